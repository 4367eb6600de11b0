"""Shared click options: genotype inputs and plink2-style sample/variant selection.

Every genotype-reading command decorates itself with :func:`genotype_options` and
:func:`selection_options` and turns the parsed values into library objects with
:func:`pop_genotype_inputs` and :func:`pop_selection`, so the flags are spelled, documented and
validated in one place.

plink2 writes ``--extract range FILE``; click options take one value, so the range forms are
``--extract-range FILE`` / ``--exclude-range FILE`` (1-based inclusive, plink2's ``range`` =
``bed1``), and ``--extract range:FILE`` / ``--extract bed0:FILE`` / ``--extract bed1:FILE``
are accepted as well.
"""
from __future__ import annotations

import click

from ..errors import InputError
from ..io.selection import Selection

__all__ = ["genotype_options", "selection_options", "pop_genotype_inputs", "pop_selection",
           "open_selected"]

SELECTION_HELP_GROUP = "Sample/variant selection (plink2 semantics)"

_GENO_KEYS = ("bgen", "sample_file", "bed", "pfile", "vcf", "vcz", "vcf_dosage")
_SEL_KEYS = ("keep", "remove", "extract", "exclude", "extract_range", "exclude_range", "chr",
             "from_bp", "to_bp", "maf", "max_maf", "mac", "geno", "info_min")


def _apply(f, options):
    for opt in reversed(options):
        f = opt(f)
    return f


def genotype_options(f):
    """``--bgen/--sample/--bed/--pfile/--vcf/--vcz/--vcf-dosage`` (exactly one source is checked
    by :func:`pop_genotype_inputs`)."""
    return _apply(f, [
        click.option("--bgen", help="BGEN file(s): a path or a quoted glob such as 'chr*.bgen'."),
        click.option("--sample", "sample_file", type=click.Path(dir_okay=False),
                     help="BGEN .sample file (default: embedded IDs or <bgen>.sample)."),
        click.option("--bed", help="PLINK .bed/.bim/.fam prefix (or glob of prefixes)."),
        click.option("--pfile", help="PLINK 2 .pgen/.pvar/.psam prefix (or glob)."),
        click.option("--vcf", help="VCF/BCF file(s) (.vcf, .vcf.gz, .bcf) or a quoted glob."),
        click.option("--vcz", help="VCF Zarr store(s) (a .vcz directory, as bio2zarr's "
                                   "vcf2zarr writes it) or a quoted glob; needs zarr."),
        click.option("--vcf-dosage", default="auto", show_default=True,
                     help="VCF FORMAT field for dosages, for --vcf and --vcz (DS, GP, GT or "
                          "auto)."),
    ])


def selection_options(f=None, *, dosage_filters: bool = True):
    """plink2's selection flags; ``dosage_filters=False`` leaves out ``--maf/--max-maf/--mac/
    --geno/--info-min`` (for a command that defines its own)."""
    opts = [
        click.option("--keep", multiple=True, type=click.Path(dir_okay=False),
                     help="[selection] Keep only these samples (ID file: #FID/#IID header, "
                          "IID or FID IID columns, .fam/.psam). Repeatable."),
        click.option("--remove", multiple=True, type=click.Path(dir_okay=False),
                     help="[selection] Remove these samples (same format as --keep)."),
        click.option("--extract", multiple=True,
                     help="[selection] Keep only variants with these IDs; 'range:FILE', "
                          "'bed0:FILE', 'bed1:FILE' read a range file instead."),
        click.option("--exclude", multiple=True,
                     help="[selection] Remove variants with these IDs (or 'range:FILE')."),
        click.option("--extract-range", multiple=True, type=click.Path(dir_okay=False),
                     help="[selection] Keep variants in 'chr start end' ranges (1-based, "
                          "inclusive)."),
        click.option("--exclude-range", multiple=True, type=click.Path(dir_okay=False),
                     help="[selection] Remove variants in these ranges."),
        click.option("--chr", "chr", default=None,
                     help="[selection] Chromosomes, plink2 syntax: '1-4,X,chr22'."),
        click.option("--from-bp", type=click.IntRange(min=0), default=None,
                     help="[selection] First position kept (needs --chr with one chromosome)."),
        click.option("--to-bp", type=click.IntRange(min=0), default=None,
                     help="[selection] Last position kept (needs --chr with one chromosome)."),
    ]
    if dosage_filters:
        opts += [
            click.option("--maf", type=click.FloatRange(0, 0.5), default=None,
                         help="[selection] Remove variants with MAF below this (over the "
                              "selected samples)."),
            click.option("--max-maf", type=click.FloatRange(0, 0.5), default=None,
                         help="[selection] Remove variants with MAF above this."),
            click.option("--mac", type=click.FloatRange(min=0), default=None,
                         help="[selection] Remove variants with minor allele count below this."),
            click.option("--geno", type=click.FloatRange(0, 1), default=None,
                         help="[selection] Remove variants with missing rate above this."),
            click.option("--info-min", type=click.FloatRange(min=0), default=None,
                         help="[selection] Remove variants with MaCH R² below this."),
        ]

    def deco(g):
        return _apply(g, opts)

    return deco(f) if f is not None else deco


def _split_ranges(values, flag: str) -> tuple[list[str], list[str], str | None]:
    ids, ranges, kind = [], [], None
    for v in values or ():
        head, sep, rest = str(v).partition(":")
        if sep and head in ("range", "bed0", "bed1") and rest:
            k = "bed1" if head == "range" else head
            if kind is not None and kind != k:
                raise InputError(f"{flag}: mixing bed0 and bed1/range files is not supported")
            kind = k
            ranges.append(rest)
        else:
            ids.append(str(v))
    return ids, ranges, kind


def pop_selection(kwargs: dict) -> Selection:
    """Remove the selection options from a click callback's ``kwargs`` -> :class:`Selection`.

    Raises
    ------
    InputError
        An invalid combination (e.g. ``--from-bp`` without one ``--chr``).
    """
    v = {k: kwargs.pop(k, None) for k in _SEL_KEYS}
    ext_ids, ext_rng, k1 = _split_ranges(v["extract"], "--extract")
    exc_ids, exc_rng, k2 = _split_ranges(v["exclude"], "--exclude")
    if k1 and k2 and k1 != k2:
        raise InputError("--extract/--exclude: mixing bed0 and bed1/range files is not supported")
    return Selection(
        keep=v["keep"] or (), remove=v["remove"] or (),
        extract=ext_ids, exclude=exc_ids,
        extract_range=list(v["extract_range"] or ()) + ext_rng,
        exclude_range=list(v["exclude_range"] or ()) + exc_rng,
        range_kind=k1 or k2 or "bed1",
        chromosomes=v["chr"] or (), from_bp=v["from_bp"], to_bp=v["to_bp"],
        maf=v["maf"], max_maf=v["max_maf"], mac=v["mac"], geno=v["geno"],
        info_min=v["info_min"],
    )


def pop_genotype_inputs(kwargs: dict) -> dict:
    """Remove the genotype options from ``kwargs`` -> ``{"genotypes", "sample_file",
    "vcf_dosage"}`` for :func:`gwaskit.io.genotypes.open_genotypes`.

    Raises
    ------
    InputError
        Not exactly one of --bgen/--bed/--pfile/--vcf/--vcz, or --sample without --bgen.
    """
    v = {k: kwargs.pop(k, None) for k in _GENO_KEYS}
    given = [k for k in ("bgen", "bed", "pfile", "vcf", "vcz") if v[k] is not None]
    if len(given) != 1:
        raise InputError("give exactly one of --bgen, --bed, --pfile, --vcf or --vcz")
    if v["sample_file"] is not None and given[0] != "bgen":
        raise InputError("--sample goes with --bgen only")
    return {"genotypes": v[given[0]], "sample_file": v["sample_file"],
            "vcf_dosage": v["vcf_dosage"] or "auto"}


def open_selected(geno: dict, selection: Selection, what: str = "genotypes"):
    """Open the genotype flags (:func:`pop_genotype_inputs`) and apply ``selection``: the
    reader every genotype-reading command works on (a
    :class:`~gwaskit.io.selection.SelectedGenotypes` view when a filter is set)."""
    from ..io.genotypes import open_genotypes
    from ..io.selection import select_genotypes

    try:
        reader = open_genotypes(geno["genotypes"], sample_file=geno["sample_file"],
                                vcf_dosage=geno["vcf_dosage"])
    except InputError as e:
        raise InputError(f"{what}: {e}") from None
    try:
        return select_genotypes(reader, selection)
    except BaseException:
        reader.close()
        raise
