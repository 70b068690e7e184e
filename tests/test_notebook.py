"""notebooks/explore.ipynb is stored clean and runs top to bottom on the bundled demo data."""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"
KERNEL = "recommender-test"


def test_notebook_is_stored_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code, "the notebook has no code"
    for i, cell in enumerate(code):
        assert cell.outputs == [] and cell.execution_count is None, f"code cell {i} was saved with outputs"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory):
    """A kernelspec for *this* interpreter in a private Jupyter path, so the notebook imports the
    package under test even on a fresh machine with no (or another) python3 kernel installed."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("jupyter")
    install(kernel_name=KERNEL, prefix=str(prefix), display_name=f"recommender tests ({sys.executable})")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
        mp.setenv("PYDEVD_DISABLE_FILE_VALIDATION", "1")
        yield KERNEL


def _outputs(nb: nbformat.NotebookNode) -> tuple[str, set[str]]:
    text, mimes = [], set()
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            assert out.output_type != "error", f"{out.get('ename')}: {out.get('evalue')}"
            text.append(out.get("text", ""))
            mimes.update(out.get("data", {}))
            text.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(text), mimes


def test_notebook_runs_top_to_bottom(kernel: str):
    from nbclient import NotebookClient

    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(nb, timeout=120, kernel_name=kernel, allow_errors=False,
                            resources={"metadata": {"path": str(NOTEBOOK.parent)}})
    client.execute()   # raises CellExecutionError naming the cell on any error
    text, mimes = _outputs(nb)
    assert {"image/svg+xml", "text/html"} <= mimes          # service graph, heatmap and tables
    assert "kind: NetworkPolicy" in text                    # the YAML of one namespace
    assert "allowed\negress: allowed" in text                # the explained admitted flow …
    assert "denied\negress: DENIED" in text                  # … and the denied one
    assert "self-contained: True" in text


def test_notebook_finds_the_repository_from_anywhere_inside_it():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    source = nb.cells[1].source
    namespace: dict[str, object] = {}
    exec(source.split("ROOT = repo_root()")[0], namespace)  # noqa: S102 - the notebook's own helper
    repo_root = namespace["repo_root"]
    assert repo_root(NOTEBOOK.parent) == ROOT == repo_root(ROOT / "recommender" / "views")
    with pytest.raises(FileNotFoundError):
        repo_root(Path("/"))
