"""DPP-Net's accuracy predictor: an ensemble of LSTM regressors over an architecture's tokens.

DPP-Net (Dong et al., ECCV 2018, Sec. 3.3) predicts a candidate cell's accuracy with a
recurrent regressor, as PNAS does (Liu et al., ECCV 2018: an LSTM over the cell's tokens, an
ensemble for robustness), so that thousands of candidates can be ranked without training. Here
any architecture is a sequence of ``(decision, choice)`` tokens given by its growth rule
(:meth:`.growth.GrowthRule.tokens`: ``("norm", "bn"), ("conv", "conv3x3"), ...`` for a ``dpp``
cell, one token per decision for a Tune param_space), each token of the rule's vocabulary with
its own embedding; the LSTM's hidden state after the last token goes through a linear head to
the (standardised) accuracy. Each member of the ensemble starts from its own seeded
initialisation and is trained full-batch with Adam on every observation (MSE or Huber loss);
the prediction is the members' mean.
Defaults (3 members, 64 hidden units, 150 epochs, lr 0.01) are ours.

Re-fitting is from scratch and seeded by ``(seed, fit index, member)``, so the same
observations give the same weights: a restored searcher continues identically.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from dppnas.threads import fixed_threads

#: an architecture as the surrogate reads it: ``(decision, choice)`` tokens
Tokens = Sequence[Hashable]


class SurrogateOptions(BaseModel):
    """The accuracy predictor's options (``searcher.surrogate`` in an experiment); ours."""

    model_config = ConfigDict(extra="forbid")
    ensemble: int = Field(3, ge=1, description="LSTM regressors averaged")
    hidden: int = Field(64, ge=1, description="LSTM hidden units")
    embedding: int = Field(16, ge=1, description="token embedding size")
    epochs: int = Field(150, ge=1, description="full-batch Adam steps per fit")
    lr: float = Field(0.01, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    loss: Literal["mse", "huber"] = "mse"
    #: torch threads while fitting / predicting: tiny tensors run fastest on one thread, and
    #: more threads spin against the trials sharing the machine (measured: 25x slower on 2
    #: busy cores)
    threads: int = Field(1, ge=1)


class _LSTMRegressor(nn.Module):
    """Embedding -> one-layer LSTM -> linear head on the hidden state after the last token."""

    def __init__(self, vocabulary: int, embedding: int, hidden: int) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocabulary + 1, embedding, padding_idx=0)
        self.lstm = nn.LSTM(embedding, hidden, batch_first=True)
        self.head = nn.Linear(hidden, 1)

    @classmethod
    def seeded(cls, vocabulary: int, embedding: int, hidden: int, seed: int) -> _LSTMRegressor:
        """A regressor with PyTorch's default initialisation drawn from its own generator
        seeded with ``seed`` (the same values as ``torch.manual_seed(seed)`` then the
        constructor). The global generator is never touched: another thread drawing from it
        (the DPP-Net searcher plans steps on a background thread; two searchers in one
        process plan at once) cannot change the weights."""
        with torch.device("meta"):  # built without drawing anything
            model = cls(vocabulary, embedding, hidden)
        model.to_empty(device="cpu")
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            # in construction order, as nn.Embedding, nn.LSTM and nn.Linear initialise
            nn.init.normal_(model.embed.weight, generator=generator)
            model.embed.weight[model.embed.padding_idx].fill_(0)
            bound = 1 / math.sqrt(hidden)
            for weight in model.lstm.parameters():
                nn.init.uniform_(weight, -bound, bound, generator=generator)
            nn.init.kaiming_uniform_(model.head.weight, a=math.sqrt(5), generator=generator)
            bound = 1 / math.sqrt(model.head.in_features)
            nn.init.uniform_(model.head.bias, -bound, bound, generator=generator)
        return model

    def forward(self, tokens: Tensor, lengths: Tensor) -> Tensor:
        out, _ = self.lstm(self.embed(tokens))
        # Padding sits after the last real token and the LSTM is causal: the output at
        # ``length - 1`` is the output of the unpadded sequence.
        last = out[torch.arange(len(tokens)), lengths - 1]
        return self.head(last).squeeze(-1)


class AccuracySurrogate:
    """An ensemble of LSTM regressors from token sequences to accuracy (0-1), re-fitted on
    demand. ``vocabulary`` lists every token (ids in its order, 0 is padding)."""

    def __init__(
        self,
        vocabulary: Sequence[Hashable],
        options: SurrogateOptions | Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> None:
        if options is None:
            options = SurrogateOptions()
        elif not isinstance(options, SurrogateOptions):
            options = SurrogateOptions.model_validate(dict(options))
        self.options = options
        self.seed = int(seed)
        self._ids = {token: i + 1 for i, token in enumerate(vocabulary)}
        if len(self._ids) != len(vocabulary):
            raise ValueError("the surrogate's vocabulary lists a token twice")
        self._vocabulary = len(self._ids)
        self.members: list[_LSTMRegressor] = []
        self.mean = 0.0
        self.scale = 1.0
        self.fits = 0  # how many times fit() ran (part of each fit's seed)

    @property
    def fitted(self) -> bool:
        return bool(self.members)

    def encode(self, archs: Sequence[Tokens]) -> tuple[Tensor, Tensor]:
        """``(ids, lengths)``: int64 ``(n, longest)`` right-padded with 0, and ``(n,)``."""
        lengths = [len(tokens) for tokens in archs]
        width = max(lengths, default=0)
        ids = torch.zeros(len(archs), width, dtype=torch.long)
        for i, tokens in enumerate(archs):
            try:
                row = [self._ids[token] for token in tokens]
            except KeyError as err:
                raise ValueError(f"token {err.args[0]!r} is not in the vocabulary") from None
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return ids, torch.tensor(lengths, dtype=torch.long)

    def fit(self, archs: Sequence[Tokens], accuracies: Sequence[float]) -> None:
        """Train a fresh ensemble on token sequences -> ``accuracies`` (replaces the last)."""
        if len(archs) != len(accuracies):
            raise ValueError("one accuracy per cell is needed")
        if not archs:
            raise ValueError("the surrogate needs at least one observation")
        y = torch.tensor(np.asarray(accuracies, dtype=np.float32))
        self.mean = float(y.mean())
        std = float(y.std()) if len(y) > 1 else 0.0
        self.scale = std if std > 1e-6 else 1.0
        target = (y - self.mean) / self.scale
        tokens, lengths = self.encode(archs)
        o = self.options
        with fixed_threads(o.threads):
            members = [
                _LSTMRegressor.seeded(
                    self._vocabulary, o.embedding, o.hidden, _member_seed(self.seed, self.fits, m)
                )
                for m in range(o.ensemble)
            ]
            _train_ensemble(members, tokens, lengths, target, o)
        self.members = [member.eval() for member in members]
        self.fits += 1

    @torch.inference_mode()
    def predict(self, archs: Sequence[Tokens]) -> np.ndarray:
        """Predicted accuracy of each token sequence: the members' mean, one batched pass per
        member. (The members' spread is not returned: ranking on mean + std at step 2 was
        measured worse than on the mean on HELP's validation devices, issue 19.)"""
        if not self.fitted:
            raise RuntimeError("the surrogate has not been fitted yet")
        if not archs:
            return np.zeros(0)
        tokens, lengths = self.encode(archs)
        with fixed_threads(self.options.threads):
            outputs = torch.stack([member(tokens, lengths) for member in self.members])
        return (outputs.double() * self.scale + self.mean).mean(0).numpy()

    def state_dict(self) -> dict[str, Any]:
        """Everything :meth:`load_state_dict` needs (weights as CPU tensors)."""
        return {
            "members": [
                {k: v.detach().clone() for k, v in m.state_dict().items()} for m in self.members
            ],
            "mean": self.mean,
            "scale": self.scale,
            "fits": self.fits,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        o = self.options
        members = []
        for weights in state["members"]:
            model = _LSTMRegressor(self._vocabulary, o.embedding, o.hidden)
            model.load_state_dict(weights)
            members.append(model.eval())
        self.members = members
        self.mean = float(state["mean"])
        self.scale = float(state["scale"])
        self.fits = int(state["fits"])


def _train_ensemble(
    members: Sequence[_LSTMRegressor],
    tokens: Tensor,
    lengths: Tensor,
    target: Tensor,
    options: SurrogateOptions,
) -> None:
    """Train every member full-batch with Adam, all members in one batched computation.

    Each member's parameters are stacked along a leading member axis and the LSTM is unrolled
    by hand (gates in ``nn.LSTM``'s order i, f, g, o), so that one forward/backward pass serves
    the whole ensemble. The loss is the sum of the members' losses and the parameters are
    disjoint, so each member gets exactly its own gradient; Adam works element by element, so
    this is the same optimisation as one Adam per member, and faster: 2-3x on an idle machine
    (0.46 -> 0.16 s for 18 depth-1 cells), 1.1-1.5x on a loaded 2-core one at 18-100
    observations, once 0.83x (``benchmarks/dpp_surrogate_fit.py``); the step between two
    DPP-Net steps waits for it. The trained weights are copied back into ``members``.
    """
    per_member = [dict(m.named_parameters()) for m in members]
    stacked = {
        name: torch.stack([p[name].detach() for p in per_member]).clone().requires_grad_(True)
        for name in per_member[0]
    }
    embed = stacked["embed.weight"]  # (E, V + 1, D)
    w_ih, w_hh = stacked["lstm.weight_ih_l0"], stacked["lstm.weight_hh_l0"]  # (E, 4H, D|H)
    head_w, head_b = stacked["head.weight"], stacked["head.bias"]  # (E, 1, H), (E, 1)
    count, steps = len(tokens), tokens.shape[1]
    hidden = w_hh.shape[2]
    # one-hot tokens (an embedding lookup as a matmul: its backward is cheaper than indexing's)
    one_hot = F.one_hot(tokens.reshape(-1), embed.shape[1]).to(embed.dtype)  # (N*T, V + 1)
    # whether step t is a sequence's last real token, (T, N, 1)
    is_last = (torch.arange(steps).unsqueeze(1) == (lengths - 1)).to(embed.dtype).unsqueeze(-1)
    optimiser = _adam(list(stacked.values()), options)
    for _ in range(options.epochs):
        bias = (stacked["lstm.bias_ih_l0"] + stacked["lstm.bias_hh_l0"]).unsqueeze(1)
        x = torch.matmul(one_hot, embed)  # (E, N*T, D)
        projected = torch.baddbmm(bias, x, w_ih.transpose(1, 2)).view(
            len(members), count, steps, -1
        )
        h = c = final = projected.new_zeros(len(members), count, hidden)
        # unbind, not projected[:, :, t]: each select's backward would zero-fill a full-size tensor
        for t, step_input in enumerate(projected.unbind(dim=2)):
            gates = step_input + torch.bmm(h, w_hh.transpose(1, 2))
            i, f, g, o = gates.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h = torch.sigmoid(o) * torch.tanh(c)
            final = final + h * is_last[t]  # the hidden state after each sequence's last token
        prediction = torch.baddbmm(head_b.unsqueeze(1), final, head_w.transpose(1, 2))
        prediction = prediction.squeeze(-1)  # (E, N)
        goal = target.expand_as(prediction)
        if options.loss == "huber":
            losses = F.huber_loss(prediction, goal, delta=1.0, reduction="none")
        else:
            losses = F.mse_loss(prediction, goal, reduction="none")
        loss = losses.mean(dim=1).sum()
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
    with torch.no_grad():
        for e, parameters in enumerate(per_member):
            for name, parameter in parameters.items():
                parameter.copy_(stacked[name][e])


def _adam(parameters: list[Tensor], options: SurrogateOptions) -> torch.optim.Adam:
    """Fused Adam (one kernel updates every tensor: 15 % faster fits than ``foreach``, measured;
    the same algorithm, the last float bits may differ); ``foreach`` where this torch has no
    fused CPU Adam (before 2.4)."""
    kwargs = {"lr": options.lr, "weight_decay": options.weight_decay}
    try:
        return torch.optim.Adam(parameters, fused=True, **kwargs)
    except RuntimeError:
        return torch.optim.Adam(parameters, foreach=True, **kwargs)


def _member_seed(seed: int, fit: int, member: int) -> int:
    return (seed * 1_000_003 + fit * 1_009 + member) % (2**63)


def kendall_tau(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Kendall's tau-b between two rankings (scipy); NaN with fewer than 2 points or no spread."""
    if len(predicted) != len(measured):
        raise ValueError("kendall_tau needs two sequences of equal length")
    if len(predicted) < 2:
        return math.nan
    from scipy.stats import kendalltau

    tau = kendalltau(np.asarray(predicted, float), np.asarray(measured, float)).statistic
    return float(tau)
