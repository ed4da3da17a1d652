"""Evolution of the performance model (paper §4.3): when and how the PM evolves.

* :mod:`~twin.evolution.features` — shop state vectors and progress targets from a recording;
* :mod:`~twin.evolution.model` — the LSTM production-progress model G(X);
* :mod:`~twin.evolution.accuracy` — TA per evaluation batch, ΔTA, MAE/RMSE/SMAPE/R²;
* :mod:`~twin.evolution.trend` — f_TD (linear fit + one-sided significance test) and the trigger;
* :mod:`~twin.evolution.stations` — the PM's per-station part (relative processing times),
  TA per station and the per-station trigger (a CUSUM on each operation's residual);
* :mod:`~twin.evolution.update` — the AdaBoost-style synchronous update, F*;
* :mod:`~twin.evolution.live` — the loop as the shop runs (annotations into the recording);
* :mod:`~twin.evolution.store` — PM files (safetensors + JSON + sha256, via twin.modelstore);
* :mod:`~twin.evolution.history` / :mod:`~twin.evolution.cli` — ``python main.py evolve``.

Qt-free; torch is imported by ``model``/``update``/``store``/``live``, not by this package.
"""
