# genhub: `make demo` (set up, launch the app at once; the missing models train behind it) and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: install test lint demo starters bench browser audio-tools clean clean-models

# torch first and alone (the CPU build); then the pinned requirements; then genhub itself, editable.
$(VENV)/.installed: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

install: $(VENV)/.installed

# The browser test drives Debian's Chromium: installed here when missing and we can (root); otherwise the
# test is skipped and pytest's summary says why.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null; } || \
		echo "note: no Chromium (not root, or no apt-get): the browser test will be skipped"

# The speech dataset (genhub/voices.py) speaks with Debian's espeak-ng; sox is for measuring and converting clips by
# hand. Installed here when missing and we can (root); otherwise the espeak-ng test is skipped and pytest says why.
audio-tools:
	@{ command -v espeak-ng >/dev/null 2>&1 && command -v sox >/dev/null 2>&1; } || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && apt-get install -y -qq espeak-ng sox >/dev/null; } || \
		echo "note: no espeak-ng (not root, or no apt-get): the espeak-ng test will be skipped"

test: install browser audio-tools
	$(PY) -m pytest -q -rs tests

lint: install
	$(VENV)/bin/ruff check .

# Speed figures: tables on stdout, JSON in bench/results/ (see bench/*.py; --tiny for a smoke run).
bench: install
	$(PY) bench/bench_training.py
	$(PY) bench/bench_data.py
	$(PY) bench/bench_app.py

# A starter for every registry model that is missing (genhub/app/starters.py: on ../shared/data when it
# exists, else on data shipped with scikit-image); present ones are reused, a stopped one resumes. Two lanes on
# the cores with no app running: the quickest way to every model (`make demo` trains them behind the app instead).
starters: install
	$(PY) -m genhub.app.starters

# The app at once; what is missing trains behind it (genhub/app/background.py), the quiz's model first.
demo: install
	$(PY) app.py --port 7860

# Remove every trained model and run (the starters, the judge, the background trainer's runs).
clean-models:
	rm -rf checkpoints runs

clean:
	rm -rf $(VENV) .pytest_cache
