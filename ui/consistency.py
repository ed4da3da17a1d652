"""Consistency dock: does the virtual shop still behave like the physical one, and where not?

The physical data is what the window shows (the open recording, or the live session so
far). It is compared *against* a DT model — by default the recording's own workshop file,
or another workshop TOML the user picks — simulated over the same span and driven by the
physical shop's orders (order-synchronised, as ``verify --physical P --model W.toml``), or
against a recording of a virtual shop (``--virtual``). The verification
(:func:`twin.verification.verify`) runs in a worker with progress and can be aborted.

Results: the verdict (PASSED / FAILED) with its rule in words, the flagged stations and
AGVs worst first with what drives each flag in shop words (a click selects it), Δ_SF and
Δ_TF, a sortable per-station table, and the characteristic bar charts (physical vs virtual
with the threshold band) of the selected station, each bar named by where its value comes
from (the GCN, the TCN, or the station's own level statistic).

The panel observes the session's store, selection and verification result; a finished
verification is written into the session (:meth:`twin.session.Session.set_verification`,
which turns the 3D consistency overlay on and labels the flagged stations); a station to
look at is reported through ``station_activated`` (the window moves the camera). The
result shown is the session's.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from scene.palette import consistency_colour
from twin.errors import CommandError
from twin.session import Session
from twin.workshop import Workshop
from ui.job_controls import JobControls, JobDock
from ui.workers import Worker

PASS = "#1A7F37"
FAIL = "#CF222E"
PHYSICAL_BRUSH = QColor("#0072B2")
VIRTUAL_BRUSH = QColor("#E69F00")
BAND_BRUSH = QColor(0, 114, 178, 45)
MUTED = "#57606A"
#: What the physical data is compared against (data of the "Against" box's items).
AGAINST_OWN = "own"  # the recording's own workshop file, order-synchronised
AGAINST_MODEL = "model"  # another workshop file, order-synchronised
AGAINST_RECORDING = "recording"  # a recording of the virtual shop
#: Short names of the behaviour characteristics on the chart axes.
SHORT_NAMES = {"processing": "busy", "cycle_ratio": "cycle t.", "setup_ratio": "setup t.",
               "breakdowns": "breakd./h", "first_come": "1st come",
               "speed_ratio": "speed", "handling_ratio": "handling"}
#: How each source of a characteristic is named on the charts.
SOURCE_NAMES = {"gcn": "GCN", "tcn": "TCN", "level": "level"}


class _NumberItem(QTableWidgetItem):
    """A table cell that sorts by its number, not its text."""

    def __init__(self, value: float, text: str) -> None:
        super().__init__(text)
        self.value = value
        self.setData(Qt.ItemDataRole.UserRole, value)
        self.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        v = other.data(Qt.ItemDataRole.UserRole)
        return self.value < v if isinstance(v, (int, float)) else super().__lt__(other)


def model_run_job(physical: Any, model: Path, *, seed: int, from_state: bool = False,
                  meta: dict[str, Any] | None = None) -> list[Any]:
    """Events of the DT model ``model`` simulated over the physical data's span, releasing
    exactly its orders (the CLI's ``verify --model``; ``from_state``: from the physical
    shop's state at its start). ``physical`` is a recording path or, for a live session,
    its events (written to a temporary recording with ``meta`` to read the orders from).
    Raises CommandError naming the problem."""
    from twin.verification.cli import synchronised_run

    if isinstance(physical, (str, Path)):
        return synchronised_run(Path(physical), model, seed=seed, from_state=from_state)
    from twin.recording import RecordingWriter

    with tempfile.TemporaryDirectory(prefix="dmw-verify-") as tmp:
        path = Path(tmp) / "physical.twinlog"
        with RecordingWriter(path, meta=dict(meta or {})) as w:
            for e in physical:
                w.append(e)
        return synchronised_run(path, model, seed=seed, from_state=from_state)


def verdict_rule(report: Any) -> str:
    """The rule the verdict was reached by, in words (from the result's ``verdict_rule``)."""
    rule = getattr(report, "verdict_rule", None)
    if not isinstance(rule, str) or not rule:
        try:
            rule = str(report.to_json().get("verdict_rule") or "")
        except (AttributeError, TypeError, ValueError):
            rule = ""
    if not rule:
        rule = f"{report.mode}: spatial and temporal Δ reach their overall thresholds"
    mode, sep, words = rule.partition(":")
    return f"Rule ({mode.strip()}): {words.strip()}" if sep else f"Rule: {rule}"


def flag_entries(report: Any) -> list[tuple[str, float, str]]:
    """(station or AGV id, or a shop-wide check such as "dispatching"; deviation; why) of
    every flag of ``report``, worst first."""
    why = getattr(report, "explanations", None) or {}
    dev = {**(getattr(report, "deviations", None) or {}),
           **(getattr(report, "agv_deviations", None) or {}),
           **(getattr(report, "shop_deviations", None) or {})}
    ids = list(getattr(report, "flagged_stations", None) or []) + \
        list(getattr(report, "flagged_agvs", None) or []) + \
        list(getattr(report, "flagged_shop", None) or [])
    out = [(e, float(dev.get(e, math.nan)), str(why.get(e, "flagged"))) for e in ids]
    return sorted(out, key=lambda x: -x[1] if math.isfinite(x[1]) else 0.0)


def characteristic_sources(res: Any, net: str) -> list[str]:
    """Where each characteristic of ``res`` comes from: "gcn", "tcn" or "level" — the prefix
    of its name (``gcn:idle``, ``level:down``), as in the JSON's ``sources``; ``net``'s when
    a name has none (a scores file from an older version)."""
    names = list(getattr(res, "names", []) or [])
    return [n.split(":", 1)[0] if ":" in n else net for n in names]


class QtConsistencyPanel(JobDock, QWidget):
    """Run a verification and show its result (see the module docstring).

    Signals:
        station_activated(station: str): the user picked a station (table or flag list).
        finished(report: object): the ConsistencyReport of a finished verification.

    Attributes:
        config: the :class:`~twin.verification.VerifyConfig` verifications run with
            (None: the defaults; the window length comes from the Window box).
    """

    station_activated = Signal(str)
    finished = Signal(object)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.store, self.selection = session.store, session.selection
        self.setObjectName("consistencyPanel")
        self.workshop: Workshop | None = None
        self.model_path: Path | None = None  # another DT model (None: the recording's own)
        self.virtual_path: Path | None = None  # a recording of the virtual shop
        self.config: Any = None
        self.error = ""
        self._against_index = 0
        self._compared = ""  # what the last verification compared with, in words

        self.physical_label = QLabel("—", self)
        self.physical_label.setWordWrap(True)
        self.against_box = QComboBox(self)
        self.against_box.addItem("Model: the recording's own workshop file", AGAINST_OWN)
        self.against_box.addItem("Against model…", AGAINST_MODEL)
        self.against_box.addItem("Recording…", AGAINST_RECORDING)
        self.against_box.setToolTip(
            "What the physical data is compared against: a DT model (workshop file) "
            "simulated with the physical shop's orders over the same span, or a recording "
            "of the virtual shop")
        self.against_box.activated.connect(self._on_against_picked)
        self.against_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.against_box.setMinimumContentsLength(18)
        self.from_state_box = QCheckBox("start from the physical shop's state", self)
        self.from_state_box.setToolTip(
            "Simulate the model from the work in process, queues and machine states the "
            "physical shop had at its first event (for a recording that starts mid-shift)")
        self.mode_box = QComboBox(self)
        self.mode_box.addItem("calibrated (fails when any station or AGV deviates)",
                              "calibrated")
        self.mode_box.addItem("paper (0.05 / 0.1, Δ ≥ 90 %)", "paper")
        self.mode_box.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.mode_box.setMinimumContentsLength(18)
        self.window_box = QDoubleSpinBox(self)
        self.window_box.setRange(5.0, 240.0)
        self.window_box.setValue(30.0)
        self.window_box.setSuffix(" min")
        self.window_box.setDecimals(0)
        self.window_box.setToolTip("Length of a graph window of the verification")
        # the bar repaints at once: a few times a second is plenty
        self.job = JobControls("Verify", self.run, self, min_interval=0.2, progress_format="%p %")
        self.run_button, self.abort_button, self.progress = (
            self.job.run_button, self.job.abort_button, self.job.progress)
        self.run_button.setDefault(True)
        self.job.aborting.connect(lambda: self.stage.setText("aborting…"))
        self.save_button = QPushButton("Save result…", self)
        self.save_button.setEnabled(False)
        self.save_button.clicked.connect(self._save)
        self.stage = QLabel("", self)
        self.stage.setStyleSheet(f"color: {MUTED};")
        self.stage.setWordWrap(True)

        self.verdict = QLabel("Not verified yet", self)
        self.verdict.setObjectName("verdict")
        self.verdict.setWordWrap(True)
        f = QFont(self.font())
        f.setPointSizeF(f.pointSizeF() + 2)
        f.setBold(True)
        self.verdict.setFont(f)
        self.rule_label = QLabel("", self)
        self.rule_label.setWordWrap(True)
        self.rule_label.setStyleSheet(f"color: {MUTED};")
        self.spatial_label = QLabel("Δ_SF —", self)
        self.temporal_label = QLabel("Δ_TF —", self)
        for lab in (self.spatial_label, self.temporal_label, self.verdict):
            lab.setTextFormat(Qt.TextFormat.RichText)
            lab.setWordWrap(True)

        self.flags_title = QLabel("", self)
        self.flags_title.setStyleSheet("font-weight: bold;")
        self.flags_title.setWordWrap(True)  # "Flagged: none — …" set the dock's width
        self.explanations = QListWidget(self)
        self.explanations.setObjectName("explanations")
        self.explanations.setWordWrap(True)
        self.explanations.setAlternatingRowColors(True)
        self.explanations.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.explanations.setToolTip("Why the verification flags each station or AGV, "
                                     "worst first; click one to select it")
        self.explanations.itemClicked.connect(self._on_flag_clicked)
        self.explanations.itemActivated.connect(self._on_flag_clicked)
        self.flags_title.hide()
        self.explanations.hide()

        self.table = QTableWidget(0, 4, self)
        self.table.setHorizontalHeaderLabels(["Station", "Score", "Spatial", "Temporal"])
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()  # the station's name gets the room, scores their width
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.verticalHeader().setDefaultSectionSize(20)
        self.table.setSortingEnabled(True)
        self.table.itemSelectionChanged.connect(self._on_row)
        self.table.setMinimumHeight(120)

        self.charts = pg.GraphicsLayoutWidget(self)
        self.charts.setBackground("w")
        self.charts.setMinimumHeight(240)
        self.spatial_plot = self.charts.addPlot(row=0, col=0)
        self.temporal_plot = self.charts.addPlot(row=1, col=0)
        #: the tick labels each chart shows (name and source of every characteristic)
        self.tick_labels: dict[str, list[str]] = {"spatial": [], "temporal": []}
        for plot, title in ((self.spatial_plot, "Spatial characteristics £ / £*"),
                            (self.temporal_plot, "Temporal characteristics λ / λ*")):
            plot.setTitle(title, size="9pt")
            plot.setMouseEnabled(x=False, y=False)
            plot.hideButtons()
            plot.showGrid(y=True, alpha=0.15)
            axis = plot.getAxis("bottom")
            tick_font = QFont(self.font())
            tick_font.setPointSizeF(max(6.5, tick_font.pointSizeF() - 2))
            axis.setStyle(tickFont=tick_font)
            axis.setHeight(2 * QFontMetrics(tick_font).lineSpacing() + 10)  # name, source
        legend = QLabel(
            f"<span style='color:{PHYSICAL_BRUSH.name()}'>■</span> physical&nbsp;&nbsp;"
            f"<span style='color:{VIRTUAL_BRUSH.name()}'>■</span> virtual&nbsp;&nbsp;"
            "<span style='color:#9DB7D3'>■</span> threshold band around physical<br>"
            f"<span style='color:{MUTED}'>under each bar: GCN / TCN = the net's residual, "
            "level = the station's own level statistic</span>", self)
        legend.setAlignment(Qt.AlignmentFlag.AlignCenter)
        legend.setWordWrap(True)

        form = QFormLayout()
        form.addRow("Physical", self.physical_label)
        form.addRow("Against", self.against_box)
        form.addRow("", self.from_state_box)
        form.addRow("Mode", self.mode_box)
        form.addRow("Window", self.window_box)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.abort_button)
        buttons.addStretch(1)
        buttons.addWidget(self.save_button)
        summary = QHBoxLayout()
        summary.addWidget(self.spatial_label, 1)
        summary.addSpacing(12)
        summary.addWidget(self.temporal_label, 1)
        # in a scroll area: a verdict with many flags never makes the window grow
        body = QWidget(self)
        body.setObjectName("consistencyBody")
        scroll = QScrollArea(self)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        lay = QVBoxLayout(body)
        lay.setContentsMargins(8, 6, 8, 6)
        lay.addLayout(form)
        lay.addLayout(buttons)
        lay.addWidget(self.progress)
        lay.addWidget(self.stage)
        lay.addWidget(self.verdict)
        lay.addWidget(self.rule_label)
        lay.addWidget(self.flags_title)
        lay.addWidget(self.explanations)
        lay.addLayout(summary)
        lay.addWidget(self.table, 2)
        lay.addWidget(self.charts, 3)
        lay.addWidget(legend)
        scroll.setWidget(body)

        self.store.reset.connect(self._on_source)
        self.selection.changed.connect(self._on_selection)
        session.workshop_changed.connect(self.set_workshop)
        session.verification_changed.connect(self._on_verification)
        self._on_source()

    @property
    def report(self) -> Any:
        """The verification result shown: the session's latest (None before the first)."""
        return self.session.verification

    def _on_verification(self, report: Any) -> None:
        if report is not None:
            self.show_report(report)

    # -- inputs ----------------------------------------------------------------------
    def set_workshop(self, workshop: Workshop) -> None:
        self.workshop = workshop
        self._on_source()
        self._label_against()

    def _on_source(self) -> None:
        src = self.store.source or "nothing open"
        t0, t1 = self.store.time_range
        hours = max(t1 - t0, 0.0) / 3600.0
        kind = "live session so far" if self.store.live else "recording"
        self.physical_label.setText(f"{kind}: {Path(src).name if '://' not in src else src}"
                                    f" ({hours:.1f} h)")

    def _own_model(self) -> Path | None:
        path = getattr(self.workshop, "path", None)
        return Path(path) if path else None

    def _label_against(self) -> None:
        own = self._own_model()
        self.against_box.setItemText(
            0, f"Model: {own.name} (the recording's own)" if own is not None
            else "Model: the recording's own workshop file")
        self.against_box.setItemText(
            1, f"Model: {self.model_path.name}" if self.model_path is not None
            else "Against model…")
        self.against_box.setItemText(
            2, f"Recording: {self.virtual_path.name}" if self.virtual_path is not None
            else "Recording…")
        self.against_box.setItemData(0, str(own or ""), Qt.ItemDataRole.ToolTipRole)
        self.against_box.setItemData(1, str(self.model_path or "pick a workshop file"),
                                     Qt.ItemDataRole.ToolTipRole)
        self.against_box.setItemData(2, str(self.virtual_path or "pick a recording"),
                                     Qt.ItemDataRole.ToolTipRole)
        self.from_state_box.setEnabled(self.against != AGAINST_RECORDING)

    @property
    def against(self) -> str:
        """What the next verification compares with: AGAINST_OWN, AGAINST_MODEL or
        AGAINST_RECORDING."""
        return str(self.against_box.currentData())

    def _on_against_picked(self, index: int) -> None:
        kind = self.against_box.itemData(index)
        path = ""
        if kind == AGAINST_MODEL:
            start = str(self.model_path or self._own_model() or "")
            path, _ = QFileDialog.getOpenFileName(self, "DT model to verify against", start,
                                                  "Workshop files (*.toml)")
            if path:
                self.set_model(path)
        elif kind == AGAINST_RECORDING:
            path, _ = QFileDialog.getOpenFileName(self, "Virtual shop recording", "",
                                                  "DMW Twin recordings (*.twinlog)")
            if path:
                self.set_virtual_recording(path)
        else:
            self.set_model(None)
            return
        if not path:  # cancelled: back to what was chosen before
            self.against_box.setCurrentIndex(self._against_index)

    def set_model(self, path: str | Path | None) -> None:
        """Verify against this workshop file (None: the recording's own), simulated with
        the physical shop's orders."""
        self.model_path = Path(path) if path else None
        self.against_box.setCurrentIndex(1 if self.model_path is not None else 0)
        self._against_index = self.against_box.currentIndex()
        self._label_against()

    def set_virtual_recording(self, path: str | Path | None) -> None:
        """Compare with this recording of the virtual shop (None: with the recording's own
        model)."""
        self.virtual_path = Path(path) if path else None
        if self.virtual_path is None:
            self.set_model(None)
            return
        self.against_box.setCurrentIndex(2)
        self._against_index = 2
        self._label_against()

    def physical_data(self) -> Any:
        """What verify() gets as the physical run: the recording file, or live events."""
        return self.session.recorded_data()

    # -- running ---------------------------------------------------------------------
    def run(self) -> bool:
        """Start a verification in the background; False (with a message) if not possible."""
        if self.job.running:
            return False
        if self.workshop is None:
            self._show_error("Open a recording or start a live session first.")
            return False
        against = self.against
        if against == AGAINST_RECORDING and self.virtual_path is None:
            self._show_error("Pick the recording of the virtual shop to compare with.")
            return False
        model = self.model_path if against == AGAINST_MODEL else self._own_model()
        if against != AGAINST_RECORDING and model is None:
            self._show_error("The shown shop has no workshop file to simulate: pick one "
                             "under Against.")
            return False
        physical = self.physical_data()
        virtual_path = self.virtual_path if against == AGAINST_RECORDING else None
        seed = int(self.store.meta.get("seed", 0) or 0) + 1000
        from_state = self.from_state_box.isChecked()
        meta = dict(self.store.meta)
        mode = str(self.mode_box.currentData())
        window = float(self.window_box.value())
        config = self.config
        self.error = ""
        self._compared = (f"recording {virtual_path.name}" if virtual_path is not None else
                          f"{model.name if model else '?'} with the physical orders")

        def job(should_abort: Any) -> Any:
            from twin.verification import default_model_dir, verify

            if virtual_path is not None:
                worker.report(0.0, f"reading {virtual_path.name}")
                virtual: Any = virtual_path
            else:
                assert model is not None
                worker.report(0.0, f"simulating {model.name} with the physical shop's orders")
                try:
                    virtual = model_run_job(physical, model, seed=seed, from_state=from_state,
                                            meta=meta)
                except CommandError as err:
                    raise CommandError(f"cannot simulate {model.name}: {err}") from None
            # Nets trained on a recording are kept and reused for it (keyed by its content).
            model_dir = default_model_dir() if isinstance(physical, (str, Path)) else None
            return verify(physical, virtual, mode=mode, window_min=window, model_dir=model_dir,
                          config=config,
                          progress=lambda stage, f: worker.report(
                              _overall(stage, f), _STAGES.get(stage, stage)),
                          should_abort=should_abort)

        worker = Worker(job, name="verify", parent=self)
        worker.progress.connect(self._on_progress)
        worker.done.connect(self._on_done)
        worker.failed.connect(self._on_failed)
        worker.cancelled.connect(self._on_cancelled)
        self.stage.setText("starting…")
        self.job.start(worker)
        return True

    def abort(self) -> None:
        self.job.abort()

    def _on_progress(self, _fraction: float, message: str) -> None:
        if message:
            self.stage.setText(message)

    def _on_done(self, report: Any) -> None:
        self.session.set_verification(report)  # shows it here and in the 3D overlay
        self.stage.setText(f"verified against {self._compared} in {report.seconds:.1f} s"
                           + (" (reused trained nets)" if report.reused_models else ""))
        self.finished.emit(report)

    def _on_failed(self, message: str) -> None:
        self._show_error(message)

    def _on_cancelled(self) -> None:
        self.stage.setText("verification aborted")

    def _show_error(self, message: str) -> None:
        self.error = message
        self.stage.setText(f"<span style='color:{FAIL}'>{message}</span>")

    # -- results ---------------------------------------------------------------------
    def show_report(self, report: Any) -> None:
        """Show a ConsistencyReport: verdict and rule, flags, Δ values, table, charts."""
        self.save_button.setEnabled(True)
        ok = bool(report.passed)
        entries = flag_entries(report)
        n_st = len(getattr(report, "flagged_stations", None) or [])
        n_agv = len(getattr(report, "flagged_agvs", None) or [])
        where = _count(n_st, "station") + (" and " if n_st and n_agv else "") + \
            _count(n_agv, "AGV")
        if ok:
            what = "the model behaves like the physical shop"
        elif where:
            what = f"the model differs from the physical shop at {where}"
        elif getattr(report, "flagged_shop", None):
            what = "the model dispatches parts differently from the physical shop"
        else:
            what = "the model differs from the physical shop"
        self.verdict.setText(
            f"<span style='color:{PASS if ok else FAIL}'>{'PASSED' if ok else 'FAILED'}</span>"
            f"<span style='font-weight:normal'> — {what}</span>")
        self.rule_label.setText(verdict_rule(report))
        self._show_flags(report, entries)
        for lab, name, res in ((self.spatial_label, "Δ_SF", report.spatial),
                               (self.temporal_label, "Δ_TF", report.temporal)):
            # the verdict's own measure in paper mode; beside it in calibrated mode
            paper = report.mode == "paper"
            colour = (PASS if res.passed else FAIL) if paper else MUTED
            lab.setText(f"<b>{name}</b> = <b style='color:{colour}'>{res.delta:.2f}</b> "
                        f"<span style='color:{MUTED}'>(paper: ≥ {res.overall_threshold:.2f}, "
                        f"{'pass' if res.passed else 'fail'})</span>")
        self.table.setSortingEnabled(False)
        self.table.clearContents()
        stations = sorted(report.per_station)
        self.table.setRowCount(len(stations))
        for row, sid in enumerate(stations):
            id_item = QTableWidgetItem(self._name(sid))
            id_item.setData(Qt.ItemDataRole.UserRole, sid)
            self.table.setItem(row, 0, id_item)
            for col, value in ((1, report.per_station[sid]),
                               (2, report.spatial.per_station.get(sid, math.nan)),
                               (3, report.temporal.per_station.get(sid, math.nan))):
                item = _NumberItem(float(value), "—" if math.isnan(value) else f"{value:.2f}")
                if col == 1 and not math.isnan(value):
                    r, g, b = consistency_colour(float(value))
                    item.setBackground(QColor(r, g, b, 120))  # a tint: the text stays legible
                self.table.setItem(row, col, item)
        self.table.setSortingEnabled(True)
        self.table.sortItems(1, Qt.SortOrder.AscendingOrder)  # least consistent first
        worst = report.ranking()[0][0] if report.per_station else ""
        flagged = [e for e, _, _ in entries if e in report.per_station]
        self.show_characteristics(self.selection.entity if self.selection.entity
                                  in report.per_station else (flagged or [worst])[0])

    def _name(self, entity: str) -> str:
        ws = self.workshop
        if ws is not None and entity in ws.stations:
            return f"{entity}  {ws.stations[entity].name}"
        if ws is not None and entity in ws.agvs and getattr(ws.agvs[entity], "name", ""):
            return f"{entity}  {ws.agvs[entity].name}"
        return entity

    def _show_flags(self, report: Any, entries: list[tuple[str, float, str]]) -> None:
        lst = self.explanations
        lst.clear()
        limit = float(getattr(report, "family_limit", 0.0) or 0.0)
        if entries:
            beyond = f" beyond the limit {limit:g}" if limit else ""
            note = "" if report.mode == "calibrated" else \
                " (calibrated limit; the paper's verdict is Δ alone)"
            self.flags_title.setText(f"Flagged{beyond}, worst first{note} — click to select:")
        else:
            self.flags_title.setText("Flagged: none — no station or AGV deviates beyond the "
                                     f"limit{f' {limit:g}' if limit else ''}.")
        shop = set(getattr(report, "flagged_shop", None) or [])
        for entity, dev, why in entries:
            # a shop-wide check (dispatching) names no station or AGV to select
            name = f"Shop ({entity})" if entity in shop else self._name(entity)
            item = QListWidgetItem(f"{name} — {why}")
            item.setData(Qt.ItemDataRole.UserRole, None if entity in shop else entity)
            item.setForeground(QColor(FAIL))
            item.setToolTip(f"{entity}: {why}\ndeviation {dev:.2f}"
                            + (f" (limit {limit:g})" if limit else ""))
            lst.addItem(item)
        self.flags_title.show()
        # room for up to four flags of up to two lines each; more scroll
        rows = min(len(entries), 4)
        lst.setFixedHeight(rows * (2 * lst.fontMetrics().lineSpacing() + 6)
                           + 2 * lst.frameWidth() + 2)
        lst.setVisible(bool(entries))

    def flag_texts(self) -> list[tuple[str, str]]:
        """(entity, text) of each line of the flag list, top to bottom (as shown)."""
        lst = self.explanations
        return [(str(lst.item(i).data(Qt.ItemDataRole.UserRole)), lst.item(i).text())
                for i in range(lst.count())]

    def _on_flag_clicked(self, item: QListWidgetItem) -> None:
        entity = item.data(Qt.ItemDataRole.UserRole)
        if not entity:
            return
        self.selection.select(str(entity))  # the 3D view and the inspector follow
        self.station_activated.emit(str(entity))  # the window moves the camera there

    def show_characteristics(self, station: str) -> None:
        """The characteristic bar charts of one station: physical vs virtual, threshold
        band; each bar is named with where its value comes from (GCN, TCN or level)."""
        rep = self.report
        for key, plot, res, net, kind in (
                ("spatial", self.spatial_plot, getattr(rep, "spatial", None), "gcn",
                 "Spatial £ / £*"),
                ("temporal", self.temporal_plot, getattr(rep, "temporal", None), "tcn",
                 "Temporal λ / λ*")):
            plot.clear()
            if res is None or station not in res.physical:
                continue
            phys = np.asarray(res.physical[station], dtype=float)
            virt = np.asarray(res.virtual.get(station, [math.nan] * len(phys)), dtype=float)
            thr = np.asarray(res.per_char_thresholds.get(station, [res.threshold] * len(phys)),
                             dtype=float)
            x = np.arange(len(phys), dtype=float)
            plot.addItem(pg.BarGraphItem(x0=x - 0.42, x1=x + 0.42, y0=phys - thr,
                                         y1=phys + thr, brush=BAND_BRUSH, pen=pg.mkPen(None)))
            plot.addItem(pg.BarGraphItem(x=x - 0.17, height=phys, width=0.32,
                                         brush=PHYSICAL_BRUSH, pen=pg.mkPen(None)))
            plot.addItem(pg.BarGraphItem(x=x + 0.17, height=virt, width=0.32,
                                         brush=VIRTUAL_BRUSH, pen=pg.mkPen(None)))
            sources = characteristic_sources(res, net)
            names = [n.split(":", 1)[-1] for n in res.names] or [str(i) for i in range(len(x))]
            ticks = [f"{SHORT_NAMES.get(n, n)}\n{SOURCE_NAMES.get(src, src)}"
                     for n, src in zip(names, sources or [net] * len(names), strict=False)]
            self.tick_labels[key] = ticks
            plot.getAxis("bottom").setTicks([list(zip(x.tolist(), ticks, strict=False))])
            score = res.per_station.get(station, math.nan)
            used = sorted({SOURCE_NAMES.get(src, src) for src in sources})
            plot.setTitle(f"{kind} · {station}: score {score:.2f}"
                          f" <span style='color:{MUTED}'>({' + '.join(used)})</span>",
                          size="9pt")

    def _on_row(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return
        sid = self.table.item(rows[0].row(), 0).data(Qt.ItemDataRole.UserRole)
        self.show_characteristics(sid)
        self.station_activated.emit(sid)

    def _on_selection(self, entity: str) -> None:
        if self.report is not None and entity in self.report.per_station:
            self.show_characteristics(entity)

    def _save(self) -> None:
        if self.report is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save verification result",
                                              "verification.json", "JSON (*.json)")
        if path:
            self.save(path)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.report.to_json(), indent=2), encoding="utf-8")


_STAGES = {"load": "reading the runs", "gcn": "training the GCN (spatial)",
           "tcn": "training the TCN (temporal)", "score": "scoring"}
_WEIGHTS = {"load": (0.0, 0.1), "gcn": (0.1, 0.5), "tcn": (0.5, 0.9), "score": (0.9, 1.0)}


def _count(n: int, what: str) -> str:
    return "" if n == 0 else f"{n} {what}{'s' if n > 1 else ''}"


def _overall(stage: str, fraction: float) -> float:
    lo, hi = _WEIGHTS.get(stage, (0.0, 1.0))
    return lo + (hi - lo) * min(max(fraction, 0.0), 1.0)
