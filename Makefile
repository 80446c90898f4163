# Every target makes its own environment (.venv) from requirements.txt, then runs.
# The two commands the README gives:   make book   and   make test
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
JB := $(VENV)/bin/jupyter-book
# A notebook that raises must fail the build: -W turns warnings (and myst-nb's execution
# errors, with execute.raise_on_error in _config.yml) into a non-zero exit.
JB_FLAGS := -W -n --keep-going
export PYDEVD_DISABLE_FILE_VALIDATION := 1
# An inherited MPLBACKEND=Agg would keep figures out of executed notebooks.
unexport MPLBACKEND

.PHONY: help env book book-noexec test unit notebooks lint format clean release autograder grade \
	check-html grading-benchmark

help:
	@echo "make book    set up .venv, execute every chapter, build _build/html (warnings are errors)"
	@echo "make test    set up .venv, run unit tests, nbval over chapters/*.ipynb, book build (no execution)"
	@echo "make lint    ruff check and ruff format --check"
	@echo "make format  ruff format and ruff check --fix"
	@echo "make clean   remove _build and caches (keeps .venv)"
	@echo "make release OUT=dir            student notebooks, checked: no solution, no hidden case"
	@echo "make autograder OUT=dir [HIDDEN=dir]   one otter autograder zip per chapter"
	@echo "make grade SUBMISSIONS=dir OUT=dir [HIDDEN=dir]   gradebook.csv and feedback/"
	@echo "make check-html [HTML=_build/html]   the built book holds no solution, no hidden case"

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (labs)" >/dev/null
	@touch $(STAMP)

env: $(STAMP)

book: $(STAMP)
	$(JB) build . $(JB_FLAGS)
	@test -f _build/html/index.html && echo "Book built: _build/html/index.html"

# The same book with execution off: checks the structure, cross-references and citations fast.
book-noexec: $(STAMP)
	@mkdir -p _build/noexec
	$(PY) tools/noexec_config.py _config.yml > _build/noexec/_config.yml
	$(JB) build . $(JB_FLAGS) --config _build/noexec/_config.yml --path-output _build/noexec

unit: $(STAMP)
	$(PY) -m pytest tests

# Outputs are stripped in git, so nbval runs with --nbval-lax: each notebook states its claims as
# assert cells, and any cell that raises fails the run.
notebooks: $(STAMP)
	$(PY) -m pytest --nbval-lax --nbval-sanitize-with tests/notebooks/sanitize.cfg -p no:cacheprovider chapters

test: lint unit notebooks book-noexec

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Instructor grading (book/instructors.md). HIDDEN defaults to tests/exercises/hidden.
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
