# DMW Twin — two commands do everything:  `make run`  and  `make test`.
# They create .venv, install the pinned packages, and install the system libraries
# Qt/VTK need (Xvfb, GL/EGL, xcb) via apt when run as root.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SYSPKGS := xvfb xauth libgl1 libegl1 libglx-mesa0 libegl-mesa0 libgl1-mesa-dri \
	libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0 \
	libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xkb1 libx11-xcb1 \
	libfontconfig1 libdbus-1-3 libglib2.0-0 \
	mosquitto mosquitto-clients postgresql
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench bundle dist smoke sysdeps venv clean help
.DEFAULT_GOAL := help

help:
	@echo "make run    - start DMW Twin on the bundled 13-station workshop (live simulated shop)"
	@echo "make test   - run the whole test suite headless (layer contract + pytest)"
	@echo "make bench  - run the performance benchmarks (prints figures)"
	@echo "make bundle - build the standalone one-folder bundle dist/dmw-twin/"
	@echo "make dist   - the bundle and its archive dist/dmw-twin-linux-x86_64.tar.gz"
	@echo "make smoke  - smoke-test the built bundle as on a clean machine"

run: sysdeps venv
	@if [ -n "$$DISPLAY" ] || [ -n "$$WAYLAND_DISPLAY" ]; then \
		$(PY) main.py $(ARGS); \
	else \
		echo "make run: no screen (DISPLAY is not set) - starting under a virtual X server (Xvfb)."; \
		echo "          Set DISPLAY (or use ssh -X) to see the window."; \
		xvfb-run -a -s "-screen 0 1600x1000x24" $(PY) main.py $(ARGS); \
	fi

test: sysdeps venv lint
	@env -u QT_QPA_PLATFORM $(PY) -m pytest -q; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests - failing"; exit 1; fi; exit $$rc

lint: venv
	$(VENV)/bin/lint-imports

bench: sysdeps venv
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "DMW Twin needs Python >= 3.11 (set PYTHON=python3.11)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

sysdeps:
	@missing=""; \
	if command -v dpkg-query >/dev/null 2>&1; then \
		for p in $(SYSPKGS); do \
			dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
		done; \
	else \
		command -v Xvfb >/dev/null 2>&1 || missing="xvfb"; \
	fi; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then \
			echo "Installing system packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null || exit 1; \
		else \
			echo "DMW Twin needs these system packages:$$missing"; \
			echo "Install them with:  sudo apt-get install -y$$missing"; \
			exit 1; \
		fi; \
	fi

bundle: sysdeps venv
	@rm -rf build/licenses dist/dmw-twin
	$(PY) packaging/collect_licenses.py build/licenses
	@start=$$(date +%s); \
	$(VENV)/bin/pyinstaller --noconfirm --log-level WARN --distpath dist --workpath build/pyinstaller \
		packaging/dmw-twin.spec || exit 1; \
	echo "build: $$(( $$(date +%s) - start )) s"
	@$(PY) packaging/report_size.py dist/dmw-twin

dist: bundle
	tar -C dist -cf - dmw-twin | gzip -1 > dist/dmw-twin-linux-x86_64.tar.gz
	@echo "archive: $$(du -m dist/dmw-twin-linux-x86_64.tar.gz | cut -f1) MB"

smoke:
	packaging/smoke.sh dist/dmw-twin

clean:
	rm -rf $(VENV) .pytest_cache build dist
