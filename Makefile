# Every target makes its own environment (.venv) from requirements.txt, then runs.
# The two commands the README gives:   make book   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JB := $(VENV)/bin/jupyter-book
UV_PIP := $(PYTHON) tools/uv_pip.py $(PY)
# Where torch comes from. Empty (the default, what CI uses): the index pip is configured with, whose
# torch 2.13.0 on CI's machine is the CPU build. On an ordinary Linux machine PyPI's torch is the
# CUDA build (several GB); for the CPU build (about 200 MB) run, for example,
#   make book TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=
# The browser of the site test and the screenshots: Debian's chromium (make browser installs it).
# Elsewhere point it at any Chrome or Chromium, e.g. on macOS
#   make test CHROMIUM="/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
CHROMIUM ?= /usr/bin/chromium
export LABS_CHROMIUM := $(CHROMIUM)
# Chapters the Colab-path test runs (stems of chapters/*.ipynb, or `all`).
COLAB_CHAPTERS ?= 00_tour 03_mla
# A notebook that raises must fail the build: -W turns warnings (and myst-nb's execution
# errors, with execute.raise_on_error in _config.yml) into a non-zero exit.
JB_FLAGS := -W -n --keep-going
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# An inherited MPLBACKEND=Agg would keep figures out of executed notebooks.
unexport MPLBACKEND
# Where PYTHONDONTWRITEBYTECODE is set (as on this project's machines), no process would write the
# bytecode of what it imports, and every test process and chapter kernel would compile the modules
# it imports afresh: make lets them write it (into .venv and git-ignored __pycache__ folders).
unexport PYTHONDONTWRITEBYTECODE
# PyTorch's CPU kernels (and MKL's, oneDNN's) pinned to AVX2, where the processor has it, so that
# retrained runs reproduce the committed records, made on an AVX2 processor, bit for bit on an
# AVX-512 one too (`import labs` sets the same defaults; see src/labs/common/cpu_arithmetic.py).
# LABS_CPU_ISA=native opts out here as it does in labs.
ifneq ($(LABS_CPU_ISA),native)
ifneq ($(shell grep -qw avx2 /proc/cpuinfo 2>/dev/null && echo yes),)
export ATEN_CPU_CAPABILITY ?= avx2
export MKL_ENABLE_INSTRUCTIONS ?= AVX2
export ONEDNN_MAX_CPU_ISA ?= AVX2
endif
endif

.PHONY: help env browser execute render book book-noexec test unit notebooks notebooks-other-rounding \
	test-site test-colab \
	lint format clean \
	release autograder grade check-html grading-benchmark

help:
	@echo "make book    set up .venv, execute every chapter, build _build/html (warnings are errors)"
	@echo "make book    ... then screenshots of the landing page and a chapter in _build/screenshots"
	@echo "make test    .venv and the Colab path's venv, lint, the chapters (make execute), then the"
	@echo "             unit tests beside the render and the site in a browser, then test-colab"
	@echo "make execute the chapters into the build's cache; make render: the HTML and screenshots"
	@echo "make test-site   the built site in chromium: offline, math, figures, links, Colab links"
	@echo "make test-colab  the package as a wheel in a fresh venv, newest deps, chapters run there"
	@echo "make browser install Debian's chromium if CHROMIUM is missing (apt-get)"
	@echo "make lint    ruff check and ruff format --check"
	@echo "make format  ruff format and ruff check --fix"
	@echo "make clean   remove _build and caches (keeps .venv)"
	@echo "make notebooks   every chapter under nbval; notebooks-other-rounding: the same with"
	@echo "             PyTorch's generic CPU kernels, standing in for another processor's rounding"
	@echo "make release OUT=dir            student notebooks, checked: no solution, no hidden case"
	@echo "make autograder OUT=dir [HIDDEN=dir]   one otter autograder zip per chapter"
	@echo "make grade SUBMISSIONS=dir OUT=dir [HIDDEN=dir]   gradebook.csv and feedback/"
	@echo "make check-html [HTML=_build/html]   the built book holds no solution, no hidden case"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@# uv installs what pip would, from the sources pip is configured with, in a fifth of the time
	@# (tools/uv_pip.py: 92 s for all of `make env` with pip on a slow 2-core machine).
	$(if $(TORCH_INDEX),$(UV_PIP) --index-url $(TORCH_INDEX) "$$(grep -E '^torch==' requirements.txt)")
	$(UV_PIP) -r requirements.txt
	$(UV_PIP) --no-deps --no-build-isolation -e .
	@# Compiling all 14,000 installed modules to bytecode (as pip does) took 72 CPU-s on a slow
	@# 2-core machine; the course imports about 4,000 of them, which this compiles by importing them
	@# (26 CPU-s); the rest is compiled on first import, if ever (PYTHONDONTWRITEBYTECODE is
	@# unexported above).
	$(PY) tools/warm_bytecode.py src tests tools chapters
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labs)" >/dev/null
	@touch $(STAMP)

env: $(STAMP)

# Playwright drives this system browser; it downloads none of its own.
browser:
	@if [ -x "$(CHROMIUM)" ]; then echo "browser: $(CHROMIUM)"; \
	elif command -v apt-get >/dev/null; then \
	  echo "installing Debian's chromium (apt-get)"; \
	  apt-get install -y -qq chromium >/dev/null || \
	  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null); \
	else echo "no browser at $(CHROMIUM): install Chromium or Chrome and pass CHROMIUM=/path/to/it" >&2; exit 1; fi
	@test -x "$(CHROMIUM)" || { echo "still no browser at $(CHROMIUM)" >&2; exit 1; }

# Chapters into the build's jupyter cache first (tools/execute_chapters.py); a raising cell fails
# there. BOOK_JOBS at a time; in the chapters whose metadata says `labs.runs_alone` (live timings
# that a neighbour's memory traffic disturbs: chapter 1's batch-1 decode gain once failed its
# assert beside another chapter) each code cell runs with the other chapter's kernel paused, unless
# it says `labs.shares_machine` (times nothing; tools/quiet_lock.py). BOOK_JOBS=1: one at a time.
BOOK_JOBS ?= 2
execute: $(STAMP)
	$(PY) tools/execute_chapters.py . --jobs $(BOOK_JOBS)

# The executed chapters (from the cache) rendered as HTML, and the screenshots.
render: execute browser
	$(JB) build . $(JB_FLAGS)
	@test -f _build/html/index.html && echo "Book built: _build/html/index.html"
	$(PY) tools/site_browser.py screenshots

book: render

# The same book with execution off: checks the structure, cross-references and citations fast.
book-noexec: $(STAMP)
	@mkdir -p _build/noexec
	$(PY) tools/noexec_config.py _config.yml > _build/noexec/_config.yml
	$(JB) build . $(JB_FLAGS) --config _build/noexec/_config.yml --path-output _build/noexec

# The unit tests on UNIT_WORKERS processes (pytest-xdist), each with one BLAS/OpenMP thread so
# that the workers do not fight over the cores: on CI's 2 cores about 4.5 min instead of 9. A worker
# that runs dry takes tests from the other's queue (worksteal): a few tests take a minute, and the
# default split left one worker busy for the last 40 s of a 10-minute run on a slow processor.
# JAX compiles about 1,600 small programs in the unit tests, each once; they run in milliseconds, so
# XLA's optimisation passes cost more than they save: JAX_DISABLE_MOST_OPTIMIZATIONS (JAX's own
# switch for tests) turns them off here, and only here: the chapters' timings need them. Every test
# passes both ways; the FP8, MLA, scaling and MoE tests took 170 s instead of 204 on CI's processor
# (319 CPU-s instead of 381). UNIT_JAX_OPT=1 keeps the optimisations.
UNIT_WORKERS ?= 2
UNIT_JAX_OPT ?=
unit: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	  JAX_DISABLE_MOST_OPTIMIZATIONS=$(if $(UNIT_JAX_OPT),0,1) \
	  $(PY) -m pytest tests -m "not site and not colab" -n $(UNIT_WORKERS) --dist worksteal

# Outputs are stripped in git, so nbval runs with --nbval-lax: each notebook states its claims as
# assert cells, and any cell that raises fails the run.
notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider chapters

# The chapters where PyTorch's CPU kernels round otherwise than the records' AVX2 ones: its generic
# kernels stand in for another processor's (an ARM machine, one without AVX2). Every live rerun of
# a committed run must then hold by its allowance for another processor, not to the record's digits.
notebooks-other-rounding: $(STAMP)
	LABS_CPU_ISA=native ATEN_CPU_CAPABILITY=default $(MAKE) notebooks

# The built site (make book) in a real browser, and a link check of every internal link.
test-site: $(STAMP) browser
	LABS_REQUIRE_BOOK=1 $(PY) -m pytest -p no:cacheprovider -m site tests/site \
	  tests/grading/test_release_and_bundles.py

# The Colab path: wheel, fresh venv with the newest declared dependencies, chapters run there.
test-colab: $(STAMP)
	$(PY) -m pytest -p no:cacheprovider -m colab tests/colab \
	  $(if $(filter all,$(COLAB_CHAPTERS)),,-k "installed or $(subst $(space), or ,$(strip $(COLAB_CHAPTERS)))")

space := $(empty) $(empty)

# CI (.ci/run) runs `make test`: tools/make_test.sh says in what order, and what runs beside what
# on CI's two cores (the Colab path's set-up beside .venv, then lint; the chapters; the unit tests
# beside the render and the site test; the Colab chapters). The executed book build fails on a
# raising cell (execute.raise_on_error), so it also does what `make notebooks` (nbval) does;
# running both would execute every chapter twice. The recipe names no $(MAKE), so `make -n test`
# prints it without running anything (MAKEFLAGS carries the options to the makes it calls).
test:
	@MAKE="$(MAKE_COMMAND)" PYTHON="$(PYTHON)" BUILD=_build bash tools/make_test.sh

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Instructor grading (book/instructors.md). HIDDEN defaults to tests/grading/hidden.
OUT ?= _build/grading
HTML ?= _build/html
HIDDEN_FLAG := $(if $(HIDDEN),--hidden $(HIDDEN),)

release: $(STAMP)
	$(PY) -m labs.grading release $(OUT)/release $(HIDDEN_FLAG)

autograder: $(STAMP)
	$(PY) -m labs.grading autograder $(OUT)/autograder $(HIDDEN_FLAG)

grade: $(STAMP)
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [OUT=dir] [HIDDEN=dir]"; exit 2; }
	$(PY) -m labs.grading grade $(SUBMISSIONS) $(OUT)/results $(HIDDEN_FLAG)

check-html: $(STAMP)
	$(PY) -m labs.grading check-html $(HTML) $(HIDDEN_FLAG)

grading-benchmark: $(STAMP)
	$(PY) tools/grading_benchmark.py

clean:
	rm -rf _build .pytest_cache .ruff_cache .jupyter_cache
