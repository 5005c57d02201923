"""The MONAS controller ("robot network"): an LSTM policy over a sequence of categorical choices.

After Zoph & Le (2017) and Hsu et al. (2018, MONAS): at step ``t`` the LSTM reads an input,
its hidden state goes through decision ``t``'s own softmax head, and the sampled choice's
embedding (decision ``t``'s own embedding table) is the next step's input. The first input is
zero. Optionally the logits are divided by a ``temperature`` and squashed by
``tanh_constant * tanh(logits)`` (logit clipping after ENAS, Pham et al. 2018) to keep the
policy from collapsing early.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch import nn

#: weights start uniform in [-0.08, 0.08] (Zoph & Le, 2017)
INIT_RANGE = 0.08


class Controller(nn.Module):
    """LSTM policy emitting one choice index per decision.

    Args:
        num_choices: number of choices of each decision, in order.
        hidden_size: LSTM hidden units (and embedding width).
        temperature: logits are divided by it (None: 1).
        tanh_constant: logits become ``tanh_constant * tanh(logits)`` (None: no clipping).
        generator: torch generator that draws the initial weights (reproducible init).
    """

    def __init__(
        self,
        num_choices: Sequence[int],
        hidden_size: int = 64,
        temperature: float | None = None,
        tanh_constant: float | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not num_choices or min(num_choices) < 1:
            raise ValueError(f"every decision needs at least one choice, got {list(num_choices)}")
        self.num_choices = [int(n) for n in num_choices]
        self.hidden_size = hidden_size
        self.temperature = temperature
        self.tanh_constant = tanh_constant
        self.lstm = nn.LSTMCell(hidden_size, hidden_size)
        self.embeddings = nn.ModuleList(nn.Embedding(n, hidden_size) for n in self.num_choices)
        self.heads = nn.ModuleList(nn.Linear(hidden_size, n) for n in self.num_choices)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.uniform_(-INIT_RANGE, INIT_RANGE, generator=generator)

    @property
    def num_decisions(self) -> int:
        return len(self.num_choices)

    def _logits(self, t: int, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.heads[t](hidden)
        if self.temperature is not None:
            logits = logits / self.temperature
        if self.tanh_constant is not None:
            logits = self.tanh_constant * torch.tanh(logits)
        return logits

    def _steps(
        self,
        batch: int,
        actions: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
        greedy: bool = False,
        spread: float = 1.0,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Run the LSTM over all decisions; yield (logits, action taken) per decision.

        ``actions`` (batch, T) teacher-forces the choices; otherwise each is the most likely
        choice (``greedy``) or is sampled from the policy with ``generator`` (its logits
        divided by ``spread`` > 1 for a flatter draw).
        """
        x = torch.zeros(batch, self.hidden_size)
        state = None
        for t in range(self.num_decisions):
            state = self.lstm(x, state)
            logits = self._logits(t, state[0])
            if actions is not None:
                action = actions[:, t]
            else:
                probs = torch.softmax(logits if spread == 1.0 else logits / spread, dim=-1)
                if greedy:
                    action = probs.argmax(dim=-1)
                else:
                    action = torch.multinomial(probs, 1, generator=generator).squeeze(1)
            yield logits, action
            x = self.embeddings[t](action)

    @torch.no_grad()
    def sample(self, generator: torch.Generator) -> list[int]:
        """One architecture: a choice index per decision, drawn from the policy."""
        return [int(a) for _, a in self._steps(1, generator=generator)]

    @torch.no_grad()
    def sample_many(
        self, n: int, generator: torch.Generator, spread: float = 1.0
    ) -> list[list[int]]:
        """``n`` architectures drawn independently in one batched pass, from the policy with
        its logits divided by ``spread`` (1: the policy itself; larger: flatter)."""
        columns = [a for _, a in self._steps(n, generator=generator, spread=spread)]
        return torch.stack(columns, dim=1).tolist()

    def log_prob_and_entropy(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per architecture of ``actions`` (batch, T): ``sum_t log pi(a_t | a_<t)`` and the sum
        over steps of the policy's entropy at that prefix (nats). Differentiable."""
        actions = torch.as_tensor(actions, dtype=torch.long)
        log_prob = torch.zeros(actions.shape[0])
        entropy = torch.zeros(actions.shape[0])
        for logits, action in self._steps(actions.shape[0], actions):
            log_p = torch.log_softmax(logits, dim=-1)
            log_prob = log_prob + log_p.gather(1, action[:, None]).squeeze(1)
            entropy = entropy - (log_p.exp() * log_p).sum(dim=-1)
        return log_prob, entropy

    @torch.no_grad()
    def step_probabilities(self, actions: Sequence[int] | None = None) -> list[torch.Tensor]:
        """The policy's distribution over each decision's choices, given the earlier choices.

        With ``actions`` the prefix is those choices; without, it is the most likely choice at
        every step (the greedy architecture).
        """
        forced = None if actions is None else torch.tensor([[int(a) for a in actions]])
        steps = self._steps(1, forced, greedy=True)
        return [torch.softmax(logits, dim=-1)[0] for logits, _ in steps]
