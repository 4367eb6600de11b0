import numpy as np
import pandas as pd

from gwaskit.ld._readers import ArrayGenotypes
from gwaskit.loci.panel import PANEL_COLUMNS, panel_dosages, read_panel


def _reader():
    variants = pd.DataFrame({
        "chromosome": ["1", "1", "1", "2", "2"],
        "base_pair_location": np.array([100, 200, 300, 100, 500], dtype=np.int64),
        "variant_id": ["rs1", "rs2", "rs3", "rs4", "rs5"],
        "effect_allele": ["A", "C", "G", "A", "T"],
        "other_allele": ["G", "T", "A", "C", "G"],
    })
    G = np.array([
        [0, 1, 2, 0, 1],
        [1, np.nan, 0, 2, 1],
        [2, 2, 1, 1, np.nan],
        [0, 0, 1, np.nan, 0],
    ], dtype=np.float64)
    return ArrayGenotypes(G, variants, samples=["a", "b", "c", "d"]), G


def test_read_panel_and_dosages(tmp_path):
    panel = pd.DataFrame({
        "variant_id": ["rs2", "rs1", "rs3", "rs4", "rsX", "rs5"],
        "chromosome": ["1", "chr1", "1", "2", "3", "2"],
        "base_pair_location": [200, 100, 300, 100, 5, 500],
        "effect_allele": ["T", "A", "G", "A", "A", "A"],   # rs2 swapped; rs5 mismatching
        "other_allele": ["C", "G", "T", "C", "C", "G"],    # rs3 mismatching (G/T vs G/A)
        "beta": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6],
        "standard_error": [0.01] * 6,
        "p_value": [1e-6] * 6,
    })
    path = tmp_path / "panel.tsv"
    panel.to_csv(path, sep="\t", index=False)
    p = read_panel(path)
    assert list(p.columns) == PANEL_COLUMNS
    assert p["chromosome"].tolist() == ["1", "1", "1", "2", "3", "2"]
    reader, G = _reader()
    aligned, D = panel_dosages(reader, p)
    assert aligned["variant_id"].tolist() == ["rs2", "rs1", "rs4"]
    assert aligned["swapped"].tolist() == [True, False, False]
    exp = np.column_stack([2 - G[:, 1], G[:, 0], G[:, 3]])
    # mean imputation (after the flip)
    for j in range(exp.shape[1]):
        col = exp[:, j]
        col[np.isnan(col)] = np.nanmean(col)
    np.testing.assert_allclose(D, exp, rtol=1e-6)
    # sample subset
    aligned2, D2 = panel_dosages(reader, p, samples=np.array([True, False, True, True]))
    assert D2.shape == (3, 3)
    np.testing.assert_allclose(D2[:, 0], [1, 0, 2])
