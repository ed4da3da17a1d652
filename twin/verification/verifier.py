"""Verification of a virtual shop against the physical one: GCN + TCN + consistency.

Typical use::

    report = verify("physical.twinlog", "virtual.twinlog")             # calibrated mode
    report.ranking()[0]                                                  # least consistent

    for m in train_steps("physical.twinlog", model_dir=d):               # UI: show progress
        ...                                                              # (abort: stop iterating)
    report = verify("physical.twinlog", "virtual.twinlog", model_dir=d)  # reuses the nets

The method, step by step:

1. Both runs are binned per station (:mod:`series`): state shares, queue, cycle and
   setup ratios, breakdowns begun per hour, the share of starts that took the
   earliest-arrived part (behaviour) and delivered work (context). The physical run fixes the reference cycle
   times and the feature scales; they are applied unchanged to the virtual run.
2. The GCN (:mod:`gcn`, one production-process graph per window, :mod:`graphs`) and the
   TCN (:mod:`tcn`, per-station demand series) learn on the physical run how a station of
   this shop *behaves given its context* (self-supervised: the physical behaviour is the
   target). They never see a station's own behaviour as input: the GCN infers station i
   from the window graph masked for i (:func:`graphs.masked_for`), the TCN from demand.
3. Cross-fitting: the run is cut into time blocks alternately assigned to two folds; each
   fold gets its own pair of nets and every window/bin is inferred by the net that did not
   learn from it — for the physical and the virtual run alike, so both are out-of-sample.
4. Characteristics: per station and behaviour feature, the mean residual (actual minus
   inferred, shop units). Spatial £ from the GCN, temporal λ from the TCN. A knock-on
   effect (a neighbour sends less work) is context the nets explain; a station that itself
   works differently (slower cycles, more breakdowns) keeps a residual.
5. Thresholds: the paper's fixed 0.05 / 0.1 (paper mode) or, by default, ``z`` standard
   errors of the physical-vs-physical variation (:func:`calibrated_thresholds`,
   :func:`down_share_sd`, :func:`breakdown_rate_sd` with a floor of
   :data:`MIN_BREAKDOWNS`, and for cycle/setup ratios at least the sampling error of the
   station's few operations/setups, :func:`carried_mean_weight_sq`; the first-come share
   by that sampling error alone). Each run is judged without its single longest repair
   (:func:`repair_masks`; the breakdown count keeps it). Δ and the per-station scores
   follow (:mod:`consistency`); the shop-wide dispatching check (:mod:`dispatch`) is
   added, and the verdict (:mod:`verdict`) applies one family-wise limit to every
   station's, AGV's and shop-wide check's deviation.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from twin.training import adam_epochs, torch_threads
from twin.verification.config import VerifyConfig
from twin.verification.consistency import (
    PAPER_OVERALL_THRESHOLD,
    PAPER_SPATIAL_THRESHOLD,
    PAPER_TEMPORAL_THRESHOLD,
    ConsistencyReport,
    combine_scores,
    evaluate,
)
from twin.verification.data import ShopRun, VerificationError, check_compatible, load_run
from twin.verification.dispatch import dispatch_check
from twin.verification.gcn import StationGCN, batch_targets
from twin.verification.graphs import build_graphs
from twin.verification.nets import PhysicalBasis, TrainedNets, new_nets
from twin.verification.series import (
    BEHAVIOUR,
    BEHAVIOUR_NAMES,
    CONTEXT,
    FEATURES,
    N_FEATURES,
    QUEUE,
    BinnedRun,
    CycleReference,
    bin_run,
    window_starts,
)
from twin.verification.tcn import StationTCN
from twin.verification.transport import transport_consistency
from twin.verification.verdict import apply_verdict

MODES = ("calibrated", "paper")
_DOWN = BEHAVIOUR_NAMES.index("down")
_CYCLE = BEHAVIOUR_NAMES.index("cycle_ratio")
_SETUP = BEHAVIOUR_NAMES.index("setup_ratio")
_BREAKDOWNS = BEHAVIOUR_NAMES.index("breakdowns")
_FIRST_COME = BEHAVIOUR_NAMES.index("first_come")
_BLOCKED = BEHAVIOUR_NAMES.index("blocked")

#: Smallest standard deviation used to standardise a feature (shop units), so that a
#: feature that never varied on the physical shop (e.g. ``down``) does not blow up; for
#: the breakdown rate one breakdown per hour (one breakdown in a 30 min window is then 2
#: standard units, not a hundred that would swamp the nets' training loss).
SD_FLOOR = np.array([{"queue": 0.1, "breakdowns": 1.0}.get(f, 0.02) for f in FEATURES])
#: Smallest calibrated threshold per feature (shop units): 2 % of the time / of a ratio,
#: 0.1 in log(1 + parts) for the queue, 0.02 breakdowns per hour.
THRESHOLD_FLOOR = np.array([0.1 if f == "queue" else 0.02 for f in FEATURES])
#: The breakdown-rate threshold is at least the rate difference this many breakdowns in
#: a shift make: one or two breakdowns more at a station in a shift are no evidence against
#: a model. The Poisson standard error of a rate pooled from a handful of breakdowns over
#: all stations understates how likely they are at the shop's most fragile stations
#: (machining13's MTBFs range 60-300 h): a difference of 2 at some station came up in 4
#: of 80 faithful 8 h pairs (calibration and benchmark) — Poisson counts at those MTBFs
#: give 5.8 % a pair — and made 4 of the 5 faithful failures there at the former floor of
#: 2 (one extra breakdown 0.52, two 1.03); a difference of 3 or more: 0.17 % a pair.
MIN_BREAKDOWNS = 3.0


class VerificationAborted(RuntimeError):
    """``should_abort`` returned True; nothing was saved from the interrupted training."""


@dataclass(frozen=True)
class EpochMetrics:
    """Progress of training: ``stage`` "gcn" or "tcn", ``epoch`` of ``epochs`` (1-based),
    mean squared forecast error ``loss`` (standardised units)."""

    stage: str
    epoch: int
    epochs: int
    loss: float


@dataclass
class Characteristics:
    """Per-station characteristic series of one run: spatial [S, windows, B] (GCN
    residuals) and temporal [S, bins, B] (TCN residuals), actual minus inferred behaviour
    in shop units, B = :data:`series.BEHAVIOUR`."""

    spatial: np.ndarray
    temporal: np.ndarray
    #: the station's own behaviour per window [S, windows, B] (shop units): its mean
    #: :attr:`level` is what explanations quote ("cycle time 31 % above")
    own: np.ndarray | None = None
    #: windows / bins the means use (None: all); see :func:`repair_masks`
    keep_w: np.ndarray | None = None
    keep_b: np.ndarray | None = None

    def spatial_mean(self) -> np.ndarray:
        return _kept_mean(self.spatial, self.keep_w)

    def temporal_mean(self) -> np.ndarray:
        return _kept_mean(self.temporal, self.keep_b)

    @property
    def level(self) -> np.ndarray | None:
        return None if self.own is None else _kept_mean(self.own, self.keep_w)

    def kept(self, keep_w: np.ndarray, keep_b: np.ndarray) -> Characteristics:
        return Characteristics(self.spatial, self.temporal, self.own, keep_w, keep_b)


def _kept_mean(a: np.ndarray, keep: np.ndarray | None) -> np.ndarray:
    """Mean over axis 1 of ``a`` [S, n, B] over the kept entries, every entry for the
    breakdown count (a repair left out is still a breakdown that happened)."""
    if keep is None or keep.all():
        return a.mean(axis=1)
    out = a[:, keep, :].mean(axis=1)
    out[:, _BREAKDOWNS] = a[:, :, _BREAKDOWNS].mean(axis=1)
    return out


def repair_masks(run: ShopRun, prep: Any) -> tuple[np.ndarray, np.ndarray]:
    """Windows and bins [W], [bins] to keep (True) when the run's single longest repair is
    left out: those overlapping the repair and as long again after it (the backlog it left
    to clear) are dropped; the repair alone when fewer than a third would remain, and
    none when even then (a repair of most of the shift is what the run shows).

    One long repair is one episode of a rare event, whatever its length: at the station
    it makes the down share and the queue, upstream the blocked shares, downstream the
    idle shares look far off (a faithful 8 h shift had S12 down for 111 min and S09–S11
    blocked behind it for a sixth of the shift). Judged without it, a faithful model
    passes; a station that breaks down more *often* is still seen by the breakdown count,
    which keeps every window."""
    edges = prep.binned.edges
    keep_w = np.ones(len(prep.graphs), dtype=bool)
    keep_b = np.ones(max(len(edges) - 1, 0), dtype=bool)
    if not run.downtimes:
        return keep_w, keep_b
    end = lambda d: run.t_end if d.end is None else d.end  # noqa: E731
    d = max(run.downtimes, key=lambda d: end(d) - d.start)
    for after in (end(d) - d.start, 0.0):
        t0, t1 = d.start, end(d) + after
        w = np.array([g.t1 > t0 and g.t0 < t1 for g in prep.graphs], dtype=bool)
        b = (edges[1:] > t0) & (edges[:-1] < t1)
        if (~w).sum() * 3 >= w.size and (~b).sum() * 3 >= b.size:
            return ~w, ~b
    return keep_w, keep_b


# -- preparing a run ------------------------------------------------------------------
def _geometry(config: VerifyConfig) -> tuple[float, int, int]:
    """(bin seconds, window span in bins, window stride in bins)."""
    span = int(config.bins_per_window)
    bin_s = config.window_min * 60.0 / span
    stride = max(1, int(round(span * config.stride)))
    return bin_s, span, stride


def _check_length(run: ShopRun, config: VerifyConfig, what: str) -> None:
    need = config.min_windows * config.window_min * 60.0
    if run.duration_s + 1e-6 < need:
        raise VerificationError(
            f"{what} recording {run.label} covers {run.duration_s / 60:.1f} min; verification "
            f"needs at least {config.min_windows} windows of {config.window_min:g} min "
            f"({need / 60:g} min): record longer or use a shorter window"
        )
    if not run.operations:
        raise VerificationError(f"{what} recording {run.label} has no completed operations")


def make_basis(
    run: ShopRun, binned: BinnedRun, ref: CycleReference, config: VerifyConfig
) -> PhysicalBasis:
    """Reference times ``ref`` (those ``binned`` was binned with) and the standardisation
    of every feature, pooled over stations (one scale per feature, so the nets are shared
    by all stations and a virtual run's values stay in the range the nets were trained on)."""
    _, span, stride = _geometry(config)
    win = binned.features(span, stride)
    bins = binned.features(1, 1)
    processes = sorted({op.process for op in run.operations})
    S = len(run.stations)
    pool = lambda a, f: np.broadcast_to(f(a.reshape(-1, N_FEATURES), axis=0), (S, N_FEATURES))  # noqa: E731
    return PhysicalBasis(
        stations=run.stations,
        processes=processes,
        agvs=run.agvs,
        ref=ref,
        win_mu=pool(win, np.mean).copy(),
        win_sd=np.maximum(pool(win, np.std), SD_FLOOR),
        bin_mu=pool(bins, np.mean).copy(),
        bin_sd=np.maximum(pool(bins, np.std), SD_FLOOR),
    )


@dataclass
class _Prepared:
    run: ShopRun
    binned: BinnedRun
    win_z: np.ndarray  # [S, W, F]
    bin_z: np.ndarray  # [S, B, F]
    graphs: list[Any]
    tcn_in: np.ndarray  # [S, TCN_INPUTS, B]
    win_fold: np.ndarray  # [W] cross-fitting fold of each window
    bin_fold: np.ndarray  # [B]


def _prepare(
    run: ShopRun, basis: PhysicalBasis, config: VerifyConfig, binned: BinnedRun | None = None
) -> _Prepared:
    """Features, window graphs, TCN inputs and cross-fitting folds of one run."""
    bin_s, span, stride = _geometry(config)
    if binned is None:
        binned = bin_run(run, bin_s, basis.ref)
    win = binned.features(span, stride)
    bins = binned.features(1, 1)
    win_z = (win - basis.win_mu[:, None, :]) / basis.win_sd[:, None, :]
    bin_z = (bins - basis.bin_mu[:, None, :]) / basis.bin_sd[:, None, :]
    agv = binned.agv_features(span, stride)
    # backlog when a window begins: mean queue of the bin before it (none before the run)
    starts = window_starts(binned.n_bins, span, stride)
    q = bins[:, :, QUEUE]
    backlog = np.where(starts[None, :] > 0, q[:, np.maximum(starts - 1, 0)], 0.0)
    ctx = np.stack(
        [win_z[:, :, CONTEXT[0]], (backlog - basis.win_mu[:, None, QUEUE]) / basis.win_sd[:, None, QUEUE]],
        axis=2,
    )
    graphs = build_graphs(run, ctx, agv, binned.edges, span, stride, basis.processes, basis.ref)
    load = bin_z[:, :, CONTEXT[0]]
    log_ref = basis.ref.log_station_cycle(run.stations)
    tcn_in = np.stack(
        [load, np.broadcast_to(load.mean(axis=0), load.shape),
         np.broadcast_to(log_ref[:, None], load.shape)],
        axis=1,
    )
    edges = binned.edges
    centres_w = np.array([(g.t0 + g.t1) / 2 for g in graphs])
    centres_b = (edges[:-1] + edges[1:]) / 2
    span_s = edges[-1] - edges[0] if len(edges) > 1 else 0.0
    blocks = config.cv_blocks
    return _Prepared(
        run, binned, win_z, bin_z, graphs, tcn_in,
        _folds(centres_w, edges[0], span_s, blocks), _folds(centres_b, edges[0], span_s, blocks),
    )


# -- training -------------------------------------------------------------------------
@contextmanager
def _torch_session(config: VerifyConfig) -> Iterator[None]:
    """Seeded, thread-limited torch work that leaves the global RNG state untouched."""
    with torch_threads(config.threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        yield


def _gcn_target(prep: _Prepared) -> np.ndarray:
    """Behaviour of every station in every window, window-major [W * S, B] (standardised)."""
    beh = prep.win_z[:, :, list(BEHAVIOUR)]
    return beh.transpose(1, 0, 2).reshape(-1, len(BEHAVIOUR))


def _fold_mse(net: torch.nn.Module, inputs: tuple[torch.Tensor, ...], y: torch.Tensor,
              mask: torch.Tensor | None = None) -> Callable[[object], torch.Tensor]:
    """Full-batch loss of one fold net: MSE of ``net(*inputs)`` against ``y`` (on the
    bins ``mask`` of the last axis only)."""
    def loss(_all: object) -> torch.Tensor:
        out = net(*inputs)
        if mask is None:
            return torch.nn.functional.mse_loss(out, y)
        return torch.nn.functional.mse_loss(out[:, :, mask], y[:, :, mask])

    return loss


def _fold_epochs(nets: Sequence[torch.nn.Module], losses: list[Callable[[object], torch.Tensor]],
                 epochs: int, config: VerifyConfig) -> Iterator[float]:
    """One Adam step per fold net per epoch on its full-batch loss; yields the mean loss."""
    trainers = [adam_epochs(net.parameters(), loss, epochs, lr=config.lr, weight_decay=config.weight_decay)
                for net, loss in zip(nets, losses, strict=True)]
    for net in nets:
        net.train()
    for fold_losses in zip(*trainers):
        yield sum(fold_losses) / len(fold_losses)
    for net in nets:
        net.eval()


def _gcn_trainer(
    prep: _Prepared, config: VerifyConfig, nets: list[StationGCN]
) -> Iterator[float]:
    """One Adam step per fold net per epoch; yields the mean training loss."""
    target = torch.tensor(_gcn_target(prep), dtype=torch.float32)
    S = len(prep.run.stations)
    losses = []
    for k, net in enumerate(nets):
        idx = [w for w in range(len(prep.graphs)) if prep.win_fold[w] == k]
        x, ei, st = batch_targets([prep.graphs[w] for w in idx])
        rows = torch.tensor([w * S + i for w in idx for i in range(S)], dtype=torch.long)
        losses.append(_fold_mse(net, (x, ei, st), target[rows]))
    yield from _fold_epochs(nets, losses, config.gcn_epochs, config)


def _tcn_trainer(
    prep: _Prepared, config: VerifyConfig, nets: list[StationTCN]
) -> Iterator[float]:
    """One Adam step per fold net per epoch (loss on the fold's bins); yields the mean loss."""
    x = torch.tensor(prep.tcn_in, dtype=torch.float32)  # [S, inputs, B]
    y = torch.tensor(prep.bin_z[:, :, list(BEHAVIOUR)].transpose(0, 2, 1), dtype=torch.float32)
    losses = [_fold_mse(net, (x,), y, torch.tensor(prep.bin_fold == k)) for k, net in enumerate(nets)]
    yield from _fold_epochs(nets, losses, config.tcn_epochs, config)


def _folds(centres: np.ndarray, t_start: float, duration: float, blocks: int) -> np.ndarray:
    """Cross-fitting fold (0/1) of each window/bin: the run is cut into ``blocks`` equal
    time blocks, alternately fold 0 and 1."""
    pos = np.floor(blocks * (centres - t_start) / max(duration, 1e-9)).astype(int)
    return np.clip(pos, 0, blocks - 1) % 2


class Verifier:
    """Verification against one physical run: prepares it once, trains (or reloads) the
    nets, then scores any number of virtual runs.

    ``model_dir``: where trained nets are saved and looked up (None: not saved).
    """

    def __init__(
        self,
        physical: Any,
        *,
        config: VerifyConfig | None = None,
        window_min: float | None = None,
        model_dir: str | Path | None = None,
    ) -> None:
        self.config = (config or VerifyConfig()).with_window(window_min)
        if self.config.window_min <= 0:
            raise VerificationError(f"window must be > 0 min, got {self.config.window_min:g}")
        self.physical = load_run(physical)
        _check_length(self.physical, self.config, "physical")
        bin_s, _, _ = _geometry(self.config)
        self.model_dir = Path(model_dir) if model_dir is not None else None
        self.nets: TrainedNets | None = None
        self.reused = False
        if self.model_dir is not None:
            from twin.verification.store import load_nets

            self.nets = load_nets(self.model_dir, self.physical.fingerprint, self.config)
            self.reused = self.nets is not None
        binned = None
        if self.nets is not None:
            self.basis = self.nets.basis
            if self.basis.stations != self.physical.stations:
                raise VerificationError(f"{model_dir}: saved nets list other stations")
        else:
            ref = CycleReference.from_run(self.physical)
            binned = bin_run(self.physical, bin_s, ref)
            self.basis = make_basis(self.physical, binned, ref, self.config)
        self._phys = _prepare(self.physical, self.basis, self.config, binned)
        self._phys_chars: Characteristics | None = None

    @property
    def trained(self) -> bool:
        return self.nets is not None

    def with_scoring(self, **changes: Any) -> Verifier:
        """This verifier with other scoring settings (``z``, ``overall_threshold``,
        ``level_features``), sharing the prepared physical run and the trained nets.
        Raises ValueError for a setting that would need other nets."""
        bad = sorted(set(changes) & set(VerifyConfig.TRAINING_FIELDS))
        if bad:
            raise ValueError(f"{', '.join(bad)} change the nets: make a new Verifier")
        other = copy.copy(self)
        other.config = replace(self.config, **changes)
        other._phys_chars = None
        if other.nets is not None:
            other.nets = replace(other.nets, config=other.config)
        return other

    def train_steps(self) -> Iterator[EpochMetrics]:
        """Train both nets on the physical run, yielding one :class:`EpochMetrics` per
        epoch; saves them to ``model_dir`` when done. Stop iterating to abort (nothing is
        kept). Yields nothing when the nets were reloaded."""
        if self.nets is not None:
            return
        cfg = self.config
        losses: dict[str, list[float]] = {"gcn": [], "tcn": []}
        with _torch_session(cfg):
            gcn, tcn = new_nets(cfg)
        trainers = (
            ("gcn", cfg.gcn_epochs, _gcn_trainer(self._phys, cfg, gcn)),
            ("tcn", cfg.tcn_epochs, _tcn_trainer(self._phys, cfg, tcn)),
        )
        for stage, epochs, it in trainers:
            for epoch in range(1, epochs + 1):
                with _torch_session(cfg):
                    loss = next(it)
                losses[stage].append(loss)
                yield EpochMetrics(stage, epoch, epochs, loss)
        self.nets = TrainedNets(
            gcn, tcn, self.basis, cfg, self.physical.fingerprint, self.physical.label,
            self.physical.source_hash, losses,
        )
        if self.model_dir is not None:
            from twin.verification.store import save_nets

            save_nets(self.model_dir, self.nets)

    def train(self) -> TrainedNets:
        for _ in self.train_steps():
            pass
        assert self.nets is not None
        return self.nets

    # -- characteristics ----------------------------------------------------------------
    def characteristics(self, run: Any | None = None) -> Characteristics:
        """Characteristic series of ``run`` (default: the physical run) from the nets."""
        if self.nets is None:
            raise RuntimeError("train the nets first (train_steps or train)")
        if run is None:
            if self._phys_chars is None:
                self._phys_chars = self._apply(self._phys)
            return self._phys_chars
        return self._apply(_prepare(load_run(run), self.basis, self.config))

    def inferred(self, run: Any | None = None) -> tuple[np.ndarray, np.ndarray]:
        """What the nets infer for every station (shop units, before residuals): GCN
        [S, windows, B] and TCN [S, bins, B], each window/bin by the fold net that did not
        learn from it. Station ``i``'s values come from inputs without its own behaviour
        (masked graphs, demand series)."""
        if self.nets is None:
            raise RuntimeError("train the nets first (train_steps or train)")
        prep = self._phys if run is None else _prepare(load_run(run), self.basis, self.config)
        g, t = self._infer(prep)
        beh = list(BEHAVIOUR)
        b = self.basis
        return (g * b.win_sd[:, None, beh] + b.win_mu[:, None, beh],
                t * b.bin_sd[:, None, beh] + b.bin_mu[:, None, beh])

    def _infer(self, prep: _Prepared) -> tuple[np.ndarray, np.ndarray]:
        """Standardised net outputs: GCN [S, W, B], TCN [S, bins, B]."""
        assert self.nets is not None
        S = len(self.basis.stations)
        W = len(prep.graphs)
        with _torch_session(self.config), torch.no_grad():
            x, ei, st = batch_targets(prep.graphs)
            # each window/bin is inferred by the net that did not train on its fold
            gk = [n(x, ei, st).numpy().reshape(W, S, -1).transpose(1, 0, 2) for n in self.nets.gcn]
            g = np.where((prep.win_fold == 0)[None, :, None], gk[1], gk[0])
            xt = torch.tensor(prep.tcn_in, dtype=torch.float32)
            tk = [n(xt).numpy().transpose(0, 2, 1) for n in self.nets.tcn]
            t = np.where((prep.bin_fold == 0)[None, :, None], tk[1], tk[0])
        return g, t

    def _apply(self, prep: _Prepared) -> Characteristics:
        assert self.nets is not None
        b = self.basis
        beh = list(BEHAVIOUR)
        g, t = self._infer(prep)
        # residuals, actual minus inferred, back in shop units; a feature named in
        # ``level_features`` is compared as the station's plain level instead (ablation)
        level = self._level_mask()
        g = np.where(level[None, None, :], 0.0, g)
        t = np.where(level[None, None, :], 0.0, t)
        spatial = (prep.win_z[:, :, beh] - g) * b.win_sd[:, None, beh]
        temporal = (prep.bin_z[:, :, beh] - t) * b.bin_sd[:, None, beh]
        spatial += np.where(level, b.win_mu[:, beh], 0.0)[:, None, :]
        temporal += np.where(level, b.bin_mu[:, beh], 0.0)[:, None, :]
        own = prep.win_z[:, :, beh] * b.win_sd[:, None, beh] + b.win_mu[:, None, beh]
        return Characteristics(spatial.astype(float), temporal.astype(float), own)

    def _level_mask(self) -> np.ndarray:
        """[B] True for the behaviour features compared as plain levels (no net)."""
        unknown = set(self.config.level_features) - set(BEHAVIOUR_NAMES)
        if unknown:
            raise VerificationError(f"level_features: unknown feature(s) {', '.join(sorted(unknown))} "
                                    f"(expected some of {', '.join(BEHAVIOUR_NAMES)})")
        return np.array([f in self.config.level_features for f in BEHAVIOUR_NAMES])

    # -- scoring --------------------------------------------------------------------------
    def score(
        self, virtual: Any, *, mode: str = "calibrated", started: float | None = None
    ) -> ConsistencyReport:
        """Compare ``virtual`` with the physical run and build the report."""
        if mode not in MODES:
            raise VerificationError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
        started = time.perf_counter() if started is None else started
        vrun = load_run(virtual)
        notes = check_compatible(self.physical, vrun)
        _check_length(vrun, self.config, "virtual")
        pc = self.characteristics()
        vprep = _prepare(vrun, self.basis, self.config)
        vc = self._apply(vprep)
        # where a characteristic comes from: the GCN / TCN residual, or the plain level
        level = self._level_mask()
        names_s = [f"{'level' if lv else 'gcn'}:{f}" for f, lv in zip(BEHAVIOUR_NAMES, level, strict=True)]
        names_t = [f"{'level' if lv else 'tcn'}:{f}" for f, lv in zip(BEHAVIOUR_NAMES, level, strict=True)]
        if mode == "paper":
            thr_s = np.full(pc.spatial_mean().shape, PAPER_SPATIAL_THRESHOLD)
            thr_t = np.full(pc.temporal_mean().shape, PAPER_TEMPORAL_THRESHOLD)
            overall = PAPER_OVERALL_THRESHOLD
            summary_s, summary_t = PAPER_SPATIAL_THRESHOLD, PAPER_TEMPORAL_THRESHOLD
        else:
            z = self.config.z
            # each run judged without its single longest repair (see repair_masks)
            pc = pc.kept(*repair_masks(self.physical, self._phys))
            vc = vc.kept(*repair_masks(vrun, vprep))
            floor = THRESHOLD_FLOOR[list(BEHAVIOUR)]
            thr_s = calibrated_thresholds(pc.spatial[:, pc.keep_w], int(vc.keep_w.sum()), z, floor)
            thr_t = calibrated_thresholds(pc.temporal[:, pc.keep_b], int(vc.keep_b.sum()), z, floor)
            rare = z * down_share_sd(self.physical, vrun, self.config.window_min * 60.0)
            starts = breakdown_threshold(self.physical, vrun, z)
            bursts = z * blocked_share_sd(self.physical, vrun, self.config.window_min * 60.0)
            for thr in (thr_s, thr_t):
                thr[:, _DOWN] = max(rare, float(floor[_DOWN]))
                thr[:, _BREAKDOWNS] = np.maximum(starts, float(floor[_BREAKDOWNS]))
                # blocking is as rare as the congestion or repair downstream that causes
                # it: at least the compound-Poisson error of its bursts
                thr[:, _BLOCKED] = np.maximum(thr[:, _BLOCKED], bursts)
            # cycle and setup ratios and the first-come share are means of few
            # per-operation / per-setup / per-pick values: at least the sampling error of
            # those means over the windows / bins kept (see carried_mean_weight_sq)
            _, span, stride = _geometry(self.config)
            sds = event_ratio_sd(self.physical, self.basis.ref)
            counts = ((_CYCLE, lambda b: b.cycle_n), (_SETUP, lambda b: b.setup_n),
                      (_FIRST_COME, lambda b: b.pick_n))
            # The first-come share is judged by that sampling error alone: picks are 0/1
            # events, a window holds one or two of them, and the window-to-window
            # variance of the carried-forward share (inflated for slow swings) would
            # make its threshold twice the binomial one
            for thr in (thr_s, thr_t):
                thr[:, _FIRST_COME] = float(floor[_FIRST_COME])
            for k, (feat, n_of) in enumerate(counts):
                if sds[k] <= 0:
                    continue
                for thr, sp, stp, kp, kv in ((thr_s, span, stride, pc.keep_w, vc.keep_w),
                                             (thr_t, 1, 1, pc.keep_b, vc.keep_b)):
                    w2 = (carried_mean_weight_sq(n_of(self._phys.binned), sp, stp, kp)
                          + carried_mean_weight_sq(n_of(vprep.binned), sp, stp, kv))
                    thr[:, feat] = np.maximum(thr[:, feat], z * sds[k] * np.sqrt(w2))
            overall = self.config.overall_threshold
            summary_s = summary_t = None
        st = list(self.basis.stations)
        spatial = evaluate(
            _by_station(st, pc.spatial_mean()), _by_station(st, vc.spatial_mean()),
            _by_station(st, thr_s), overall, names_s, summary_threshold=summary_s,
        )
        temporal = evaluate(
            _by_station(st, pc.temporal_mean()), _by_station(st, vc.temporal_mean()),
            _by_station(st, thr_t), overall, names_t, summary_threshold=summary_t,
        )
        transport = transport_consistency(
            self.physical, vrun, _geometry(self.config)[0], mode=mode, z=self.config.z,
            overall_threshold=self.config.overall_threshold,
        )
        report = ConsistencyReport(
            spatial=spatial,
            temporal=temporal,
            per_station=combine_scores(spatial, temporal),
            passed=spatial.passed and temporal.passed,
            seconds=time.perf_counter() - started,
            mode=mode,
            window_min=self.config.window_min,
            reused_models=self.reused,
            notes=notes,
            transport=transport,
        )
        if mode == "calibrated":
            check = dispatch_check(self.physical, vrun, self.config.z)
            if check is not None:
                report.shop_checks["dispatching"] = check
        if pc.level is not None and vc.level is not None:
            report.levels = {"names": list(BEHAVIOUR_NAMES), "physical": _by_station(st, pc.level),
                             "virtual": _by_station(st, vc.level)}
        apply_verdict(report, vrun.duration_s)
        return report


def _by_station(stations: list[str], a: np.ndarray) -> dict[str, list[float]]:
    return {s: [float(x) for x in a[i]] for i, s in enumerate(stations)}


def calibrated_thresholds(
    phys: np.ndarray, n_virtual: int, z: float, floor: np.ndarray
) -> np.ndarray:
    """Per-characteristic thresholds [S, C] from the physical run's own variation.

    ``phys`` [S, n, C] is a characteristic series over windows/bins; its mean is the
    characteristic. Two runs of the same shop differ in their means by about
    ``sqrt(v (1/n_p + 1/n_v))`` with ``v`` the *long-run* variance of the series: consecutive
    windows are correlated and a shift has slow swings (order mix, queues building up),
    so ``v`` is the window-to-window variance times an inflation measured by comparing
    long blocks of the physical run with each other (halves and quarters: physical vs
    physical), pooled over stations. A station's window variance is raised at least
    half-way towards the mean over stations, so that a station that happened not to vary
    this shift is not held to zero. The threshold is ``z`` such standard errors, at least
    ``floor``.
    """
    S, n, C = phys.shape
    var = phys.var(axis=1, ddof=1) if n > 1 else np.zeros((S, C))
    var = np.maximum(var, 0.5 * var + 0.5 * var.mean(axis=0, keepdims=True))
    inflation = long_run_inflation(phys)
    se = np.sqrt(var * inflation[None, :] * (1.0 / n + 1.0 / max(1, n_virtual)))
    return np.maximum(z * se, floor[None, :])


def down_share_sd(physical: ShopRun, virtual: ShopRun, window_s: float) -> float:
    """Standard deviation of the difference of one station's down share between two runs.

    Breakdowns are rare: a station breaks down once or never in a shift, so its down share
    is a compound Poisson variable, not a smooth series, and a station's own window-to-
    window variation says nothing about the next shift (or is made of the very breakdown
    under test). With rate ``λ`` breakdowns per station and second and repair times r,
    ``Var(down share) = λ E[r²] / T`` over a run of T seconds. ``λ`` and the mean repair
    time are pooled over all stations of both runs, plus one prior episode of one window
    length (a shift without breakdowns does not prove they never happen); repair times
    are taken as exponential, ``E[r²] = 2 E[r]²``, their mean estimated from the median
    (median / ln 2), so that one long breakdown under test does not widen its own
    threshold.
    """
    episodes = physical.down_episodes() + virtual.down_episodes() + [window_s]
    exposure = len(physical.stations) * (physical.duration_s + virtual.duration_s)
    return _compound_poisson_sd(episodes, exposure, physical.duration_s, virtual.duration_s)


def _compound_poisson_sd(episodes: Sequence[float], exposure_s: float, tp: float, tv: float) -> float:
    """Standard deviation of the difference of a share of time made of rare episodes
    (repairs, blocking bursts) between runs of ``tp`` and ``tv`` seconds: ``episodes``
    [s] seen over ``exposure_s`` station-seconds give the rate ``λ``, their median / ln 2
    the mean episode (robust to the episode under test; exponential, so ``E[r²] = 2
    E[r]²``), and ``Var = λ E[r²] (1/T_p + 1/T_v)``."""
    rate = len(episodes) / max(exposure_s, 1.0)
    mean = float(np.median(episodes)) / np.log(2.0)
    return float(np.sqrt(rate * 2.0 * mean**2 * (1.0 / max(tp, 1.0) + 1.0 / max(tv, 1.0))))


def blocked_share_sd(physical: ShopRun, virtual: ShopRun, window_s: float) -> np.ndarray:
    """Standard deviation [S, in ``physical.stations`` order] of the difference of each
    station's blocked share between two runs of the same shop.

    Blocking, like a breakdown, is a rare event of a shift: a station is blocked when the
    station after it is down or congested, in bursts (:meth:`data.ShopRun.blocked_bursts`,
    intervals less than a window apart merged) that most stations never see in a shift.
    A station's own window-to-window variation then says nothing (zero where the physical
    run never blocked it: a faithful model whose S12 sat blocked 15 min behind a 22 min
    repair of S13 failed at 1.8 times the limit). So, as :func:`down_share_sd`, the
    blocked share is taken as compound Poisson, ``Var = λ E[b²] / T`` per run, with the
    burst rate ``λ`` and the mean burst ``E[b]`` (median / ln 2, ``E[b²] = 2 E[b]²``)
    pooled over the *other* stations of both runs plus one prior burst of one window
    length (as :func:`breakdown_rate_sd`: a station's own bursts, those under test, do not
    widen its threshold; a model that keeps a station blocked for hours still fails)."""
    bp, bv = physical.blocked_bursts(window_s), virtual.blocked_bursts(window_s)
    stations = physical.stations
    tp, tv = max(physical.duration_s, 1.0), max(virtual.duration_s, 1.0)
    exposure = max(len(stations) - 1, 1) * (tp + tv)
    return np.array([
        _compound_poisson_sd([b for run in (bp, bv) for st, bs in run.items() if st != s for b in bs]
                             + [window_s], exposure, tp, tv)
        for s in stations])


def breakdown_rate_sd(physical: ShopRun, virtual: ShopRun) -> np.ndarray:
    """Standard deviation [breakdowns per hour] of the difference of each station's
    breakdown rate between two runs of the same shop [S, in ``physical.stations`` order].

    Breakdowns of a station are a Poisson process: with rate ``λ`` [1/s], the counts of
    two runs of ``T_p`` and ``T_v`` seconds give rates whose difference has variance
    ``λ (1/T_p + 1/T_v)``. ``λ`` of station *i* is pooled over the *other* stations of
    both runs (leave one out: the breakdowns under test do not widen their own
    threshold — a station that broke down three times where the model expects one
    breakdown a month would otherwise raise the rate it is judged by), plus one prior
    breakdown (a shift without breakdowns does not prove they never happen). Episodes are
    :meth:`twin.analytics.ShopAnalytics.downtimes`, counted by their start.
    """
    stations = physical.stations
    count = {s: 0 for s in stations}
    for d in (*physical.downtimes, *virtual.downtimes):
        if d.station in count:
            count[d.station] += 1
    total = sum(count.values())
    others = max(len(stations) - 1, 1)
    tp, tv = max(physical.duration_s, 1.0), max(virtual.duration_s, 1.0)
    rate = np.array([(total - count[s] + 1.0) / (others * (tp + tv)) for s in stations])
    return 3600.0 * np.sqrt(rate * (1.0 / tp + 1.0 / tv))


def breakdown_threshold(physical: ShopRun, virtual: ShopRun, z: float) -> np.ndarray:
    """Threshold [breakdowns per hour, S in ``physical.stations`` order] of the difference
    of each station's breakdown rate: ``z`` Poisson standard errors
    (:func:`breakdown_rate_sd`), at least the rate :data:`MIN_BREAKDOWNS` breakdowns make
    over the two runs' mean length."""
    tp, tv = max(physical.duration_s, 1.0), max(virtual.duration_s, 1.0)
    return np.maximum(z * breakdown_rate_sd(physical, virtual),
                      MIN_BREAKDOWNS * 3600.0 * (1.0 / tp + 1.0 / tv) / 2.0)


def event_ratio_sd(run: ShopRun, ref: CycleReference) -> tuple[float, float, float]:
    """Standard deviation of one operation's cycle ratio, of one setup's setup ratio (each
    divided by its physical reference time) and of one pick's first-come indicator (1:
    took the earliest arrival) on the physical run, 0 without data. A shop that always
    dispatches first-come-first-served has 0 for the last: one start that did not take
    the earliest arrival is then evidence."""
    cyc = [op.work_s / ref.cycle_s(op.station, op.process) for op in run.operations]
    setup = [w / ref.setup_s(s) for s, _, w in run.setups if w > 0 and ref.setup_s(s)]
    picks = [float(first) for _, _, first in run.dispatch_picks()]
    sd = lambda a: float(np.std(a, ddof=1)) if len(a) > 2 else 0.0  # noqa: E731
    return sd(cyc), sd(setup), sd(picks)


def carried_mean_weight_sq(counts: np.ndarray, span: int, stride: int,
                           keep: np.ndarray | None = None) -> np.ndarray:
    """Sum of squared weights [S] with which single events (operations, setups) enter the
    run mean of a carried-forward ratio series (:meth:`BinnedRun.features`).

    ``counts`` [S, bins] events finished per bin. A span's ratio is the mean of its events,
    or the previous span's when it has none (1.0 before the first: no variance), so the
    run mean is a weighted sum of the events' ratios; with independent events of
    standard deviation ``sd`` its standard deviation is ``sd * sqrt(result)``. A station
    with 3 setups in a shift has a far larger result (about 1/3) than one with 60
    operations (about 1/60), whatever its window-to-window variation says.

    ``keep`` [spans]: the spans the mean is taken over (None: all; see
    :func:`repair_masks`). A run judged without half its windows has a mean of half its
    events, with a larger sampling error (a faithful model failed at 0.96 on S07's cycle
    ratio, the physical run judged on 54 % of its windows and its error taken from all).
    """
    S, B = counts.shape
    starts = window_starts(B, span, stride)
    out = np.zeros(S)
    if starts.size == 0:
        return out
    for i in range(S):
        u = np.zeros(B)  # per-event weight of each bin in the current span's value
        total = np.zeros(B)
        for j, a in enumerate(starts):
            n = counts[i, a : a + span].sum()
            if n > 0:
                u = np.zeros(B)
                u[a : a + span] = np.where(counts[i, a : a + span] > 0, 1.0 / n, 0.0)
            if keep is None or keep[j]:
                total += u
        total /= starts.size if keep is None else max(int(np.sum(keep)), 1)
        out[i] = float(np.sum(counts[i] * total**2))
    return out


def long_run_inflation(phys: np.ndarray, blocks: tuple[int, ...] = (2, 4)) -> np.ndarray:
    """Ratio of long-run to window-to-window variance per characteristic [C] (>= 1).

    For each split of the run into ``b`` consecutive blocks, the variance of the block
    means times the block length estimates the long-run variance (batch means); the ratio
    to the plain variance is pooled over stations (sum over stations of both) and the
    largest over the splits is kept (the conservative choice)."""
    S, n, C = phys.shape
    plain = phys.var(axis=1, ddof=1).sum(axis=0) if n > 1 else np.zeros(C)
    best = np.ones(C)
    for b in blocks:
        length = n // b
        if length < 2:
            continue
        means = phys[:, : b * length, :].reshape(S, b, length, C).mean(axis=2)
        bm = means.var(axis=1, ddof=1).sum(axis=0) * length
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(plain > 1e-12, bm / plain, 1.0)
        best = np.maximum(best, np.minimum(ratio, float(length)))
    return best


# -- the API the CLI and the app call -------------------------------------------------
def train_steps(
    physical: Any,
    *,
    config: VerifyConfig | None = None,
    window_min: float | None = None,
    model_dir: str | Path | None = None,
) -> Iterator[EpochMetrics]:
    """Train the nets on ``physical`` as a generator of epoch metrics (saved to
    ``model_dir`` at the end, where :func:`verify` finds them)."""
    verifier = Verifier(physical, config=config, window_min=window_min, model_dir=model_dir)
    yield from verifier.train_steps()


def verify(
    physical: Any,
    virtual: Any,
    *,
    mode: str = "calibrated",
    window_min: float | None = None,
    config: VerifyConfig | None = None,
    progress: Callable[[str, float], None] | None = None,
    should_abort: Callable[[], bool] | None = None,
    model_dir: str | Path | None = None,
) -> ConsistencyReport:
    """Verify ``virtual`` against ``physical`` (recordings, paths or event lists).

    ``mode``: "calibrated" (thresholds from physical variation, default) or "paper"
    (0.05 / 0.1 / 90 %). ``progress(stage, fraction)`` is called with stages "load",
    "gcn", "tcn", "score"; ``should_abort()`` is polled between epochs and raises
    :class:`VerificationAborted`. Nets are reused from / saved to ``model_dir``.
    Raises :class:`VerificationError` for recordings that cannot be compared.
    """
    started = time.perf_counter()
    if mode not in MODES:
        raise VerificationError(f"unknown mode {mode!r} (expected one of {', '.join(MODES)})")
    report = progress or (lambda stage, fraction: None)
    abort = should_abort or (lambda: False)
    report("load", 0.0)
    prun, vrun = load_run(physical), load_run(virtual)
    check_compatible(prun, vrun)
    verifier = Verifier(prun, config=config, window_min=window_min, model_dir=model_dir)
    _check_length(vrun, verifier.config, "virtual")
    report("load", 1.0)
    if abort():
        raise VerificationAborted("verification aborted")
    for m in verifier.train_steps():
        report(m.stage, m.epoch / m.epochs)
        if abort():
            raise VerificationAborted("verification aborted during training")
    report("score", 0.0)
    out = verifier.score(vrun, mode=mode, started=started)
    report("score", 1.0)
    return out

