"""`gemcont embed --split test` writes only held-out individuals; the full export is refused by
`gwaskit scan` until a split is chosen (the held-out guard)."""
from __future__ import annotations

import pandas as pd
import pytest

pytest.importorskip("torch")

from gwaskit.errors import InputError  # noqa: E402
from gwaskit.io.tables import load_analysis_data  # noqa: E402


def test_embed_split_test_writes_only_held_out(tmp_path, tiny_cfg, tiny_cohort):
    from learners.gemcont.export import export_checkpoint
    from learners.gemcont.train import Trainer

    Trainer(tiny_cfg, tiny_cohort, out_dir=str(tmp_path / "run")).fit(stop_after=1)
    ckpt = str(tmp_path / "run" / "last.pt")
    full, held = tmp_path / "all.parquet", tmp_path / "test.parquet"
    export_checkpoint(ckpt, str(full), cohort=tiny_cohort)
    export_checkpoint(ckpt, str(held), cohort=tiny_cohort, split="test")
    a, t = pd.read_parquet(full), pd.read_parquet(held)
    assert set(a["split"]) == {"train", "val", "test"}
    assert set(t["split"]) == {"test"}
    assert t["IID"].tolist() == a.loc[a["split"] == "test", "IID"].tolist()
    with pytest.raises(InputError, match="no individual in split 'nope'"):
        export_checkpoint(ckpt, str(tmp_path / "x.parquet"), cohort=tiny_cohort, split="nope")
    # the scan's guard: the full export needs a choice, the held-out one does not
    geno = a["IID"].tolist()
    with pytest.raises(InputError, match="column split holds 3 values"):
        load_analysis_data(geno, full, "emb_*")
    sel = load_analysis_data(geno, full, "emb_*", split_values=["test"])
    assert sorted(sel.iids) == sorted(t["IID"])
    assert sorted(load_analysis_data(geno, held, "emb_*").iids) == sorted(t["IID"])
