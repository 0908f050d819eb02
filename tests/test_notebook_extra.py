"""With the ``notebook`` extra (ipywidgets), progress bars render in Jupyter as widgets,
without tqdm's "IProgress not found" warning."""

import pytest


def test_progress_bar_in_a_kernel_without_warning():
    pytest.importorskip("ipywidgets")
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    code = (
        "import warnings\n"
        "warnings.simplefilter('always')\n"
        "import brainsim as bs\n"
        "from tqdm.auto import tqdm\n"
        "for _ in tqdm(range(3)):\n"
        "    pass\n"
    )
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    nbclient.NotebookClient(nb, timeout=300, kernel_name="python3").execute()
    outputs = nb.cells[0].outputs
    text = "".join(o.get("text", "") for o in outputs)
    assert "IProgress" not in text, text
    assert any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)
