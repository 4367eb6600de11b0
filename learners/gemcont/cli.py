"""The ``gemcont`` command: ``train``, ``embed``, ``evaluate``, ``study``.

Bad input (missing files, unknown options, wrong columns) prints one line and exits with
code 2, without a traceback, as the ``gwaskit`` command does.
"""
from __future__ import annotations

import json
import sys

import click

from gwaskit.cli.main import run_cli, setup_logging
from gwaskit.errors import InputError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--quiet", is_flag=True, help="No log output.")
def cli(quiet: bool) -> None:
    """GEMCONT: genetics-supervised contrastive learning of phenotype embeddings."""
    setup_logging(quiet=quiet)


@cli.command()
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="YAML or JSON file of options (see learners.gemcont.config).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override one option (repeatable), e.g. --set epochs=10 --set loss=dcl.")
@click.option("--resume", is_flag=True, help="Continue from OUT_DIR/last.pt.")
@click.option("--trust-code", default=None, metavar="MODULE:CALLABLE",
              help="Allow this backbone_factory module path to be imported and called (it runs "
                   "code; registered backbone names need no flag).")
@click.option("--device", default=None, help="cpu, cuda, cuda:1 (default: cuda if available).")
def train(config_path: str | None, overrides: tuple[str, ...], resume: bool,
          device: str | None, trust_code: str | None) -> None:
    """Train GEMCONT or a baseline (option method); checkpoints go to out_dir."""
    from .config import load_config
    from .train import train as run_train

    sets = list(overrides) + ([f"device={device}"] if device else [])
    # trust comes from this flag only, handed to the loader as a parameter, never from the file
    cfg = load_config(config_path, sets, trust_code=trust_code or False)
    if not cfg.out_dir:
        raise InputError("option out_dir: required for the command line")
    import os

    os.makedirs(cfg.out_dir, exist_ok=True)
    trainer = run_train(cfg, resume=resume, trust_code=trust_code or False)
    click.echo(f"trained {cfg.method} for {trainer.epoch} epoch(s); "
               f"checkpoint {os.path.join(cfg.out_dir, 'last.pt')}")


@cli.command()
@click.option("--checkpoint", required=True, type=click.Path(), help="A last.pt/best.pt.")
@click.option("--out", required=True, type=click.Path(), help="Output parquet.")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a stored option, e.g. images=other_table.csv.")
@click.option("--device", default="auto")
@click.option("--batch-size", default=0, type=int)
@click.option("--overwrite", is_flag=True, help="Replace an existing output.")
@click.option("--trust-code", default=None, metavar="MODULE:CALLABLE",
              help="Allow this backbone_factory module path to be imported and called (it runs "
                   "code; registered backbone names need no flag).")
@click.option("--split", "only_split", default=None, metavar="NAME",
              help="Write only this split, e.g. --split test (held-out individuals, for the "
                   "GWAS). Default: all splits, labelled in the split column; gwaskit scan then "
                   "needs --split-value or --all-splits.")
def embed(checkpoint: str, out: str, overrides: tuple[str, ...], device: str, batch_size: int,
          overwrite: bool, trust_code: str | None, only_split: str | None) -> None:
    """Write FID, IID, split, emb_0.. (float32) parquet for gwaskit scan --pheno."""
    from .export import export_checkpoint

    path = export_checkpoint(checkpoint, out, device=device, batch_size=batch_size,
                             overwrite=overwrite, config_overrides=list(overrides),
                             trust_code=trust_code or False, split=only_split)
    click.echo(f"wrote {path}")


@cli.command()
@click.option("--embeddings", required=True, type=click.Path(), help="Export of gemcont embed.")
@click.option("--targets", default=None, type=click.Path(), help="Table with IID and COLUMN.")
@click.option("--column", default=None, help="Latent trait or 0/1 label column.")
@click.option("--binary", is_flag=True, help="Binary label: logistic ROC AUC instead of R².")
@click.option("--splits", "n_splits", default=5, type=int, help="Random 50/50 splits.")
@click.option("--seed", default=0, type=int)
@click.option("--split", "only_split", default=None, help="Use only this split of the export.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--genotypes", multiple=True, help="Genotype file(s) for variant recovery.")
@click.option("--sample-file", default="", help=".sample for BGEN files without IDs.")
@click.option("--reference", default=None, type=click.Path(),
              help="Reference loci (panel/causal variants) for variant recovery.")
@click.option("--recovery-split", default="test", show_default=True,
              help="Individuals scanned for variant recovery (the held-out split).")
@click.option("--p", "p_threshold", default=5e-8, type=float, show_default=True)
@click.option("--window-kb", default=500.0, type=float, show_default=True)
def evaluate(embeddings: str, targets: str | None, column: str | None, binary: bool,
             n_splits: int, seed: int, only_split: str | None, as_json: bool,
             genotypes: tuple[str, ...], sample_file: str, reference: str | None,
             recovery_split: str, p_threshold: float, window_kb: float) -> None:
    """Held-out ridge R² (or logistic AUC) of a target from embeddings, mean ± std; and/or
    the fraction of reference loci recovered by a gwaskit scan of the held-out split."""
    from .data import read_table
    from .evaluate import evaluate_table, read_embeddings, variant_recovery_from_files

    if n_splits < 1:
        raise InputError("--splits must be >= 1")
    if not targets and not reference:
        raise InputError("give --targets/--column and/or --genotypes/--reference")
    emb = read_embeddings(embeddings)
    out: dict = {}
    if targets:
        if not column:
            raise InputError("--targets needs --column")
        res = evaluate_table(emb, read_table(targets, "target table"), column, binary, n_splits,
                             seed, only_split)
        out["prediction"] = res
        if not as_json:
            click.echo(f"{res['metric']} {res['target']}: {res['mean']:.4f} ± {res['std']:.4f} "
                       f"({n_splits} splits, n={res['n']})")
    if reference:
        if not genotypes:
            raise InputError("--reference needs --genotypes")
        _, summary = variant_recovery_from_files(
            emb, list(genotypes) if len(genotypes) > 1 else genotypes[0], reference,
            sample_file, recovery_split, p=p_threshold, window_kb=window_kb)
        out["recovery"] = summary
        if not as_json:
            click.echo(f"recovered {summary['n_recovered']}/{summary['n_loci']} reference loci "
                       f"({summary['fraction']:.3f}, 95% CI {summary['ci95_low']:.3f}-"
                       f"{summary['ci95_high']:.3f}) at p < {summary['p_threshold']:.3g}")
    if as_json:
        click.echo(json.dumps(out["prediction"] if list(out) == ["prediction"] else out,
                              default=str))


@cli.command()
@click.option("--config", "config_path", type=click.Path(), default=None,
              help="Study YAML (see learners.gemcont.study.StudyConfig and examples/configs).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
              help="Override a study option, e.g. --set n_splits=2 --set train.epochs=2.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Output folder (default: the config's out_dir).")
@click.option("--setting", "only_settings", multiple=True, metavar="NAME",
              help="Run only this setting (repeatable; names as in table.md: default, "
                   "n_train=500, ...). Processes running different settings may share --out.")
@click.option("--dry-run", is_flag=True,
              help="Print the expected host and GPU memory and exit; simulates nothing and "
                   "does not touch the GPU.")
def study(config_path: str | None, overrides: tuple[str, ...], out_dir: str | None,
          only_settings: tuple[str, ...], dry_run: bool) -> None:
    """Simulation study: every method x setting x split; table, figure and config in OUT."""
    from pathlib import Path

    from .study import load_study_config, run_study

    cfg = load_study_config(config_path, list(overrides))
    if out_dir:
        cfg.out_dir = out_dir
    if dry_run:
        from .memory import format_memory, study_memory

        click.echo(format_memory(cfg, study_memory(cfg)), nl=False)
        return
    summary = run_study(cfg, only_settings=list(only_settings) or None)
    click.echo((Path(cfg.out_dir) / "table.md").read_text())
    click.echo(f"{len(summary)} setting x method rows; results in {cfg.out_dir}")


def main(argv: list[str] | None = None) -> None:
    """The ``gemcont`` entry point: bad input becomes one line on stderr and exit code 2."""
    run_cli(cli, "gemcont", argv)
    sys.exit(0)


if __name__ == "__main__":
    main()
