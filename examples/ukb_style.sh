#!/usr/bin/env bash
# A UK Biobank-style embedding GWAS, end to end on a simulated cohort (README "A UK Biobank-style
# run"): BGEN per chromosome with a .sample file, --keep unrelated individuals, imputation INFO
# and frequency filters, covariates, held-out individuals only, GWAS-SSF output and the log.
# Usage: examples/ukb_style.sh [OUT_DIR] [N] [MB]
#   default runs/ukb_style, 3000 individuals, 22 autosomes of 2.5 Mb (about 120,000 variants,
#   above the 100,000 rows the GWAS Catalog validator asks for by default)
set -euo pipefail
D=${1:-runs/ukb_style}
N=${2:-3000}
MB=${3:-2.5}
PY=${PYTHON:-python}
GWASKIT=${GWASKIT:-gwaskit}
GWAS_SSF=${GWAS_SSF:-.venv-ssf/bin/gwas-ssf}
MIN_ROWS=${MIN_ROWS:-100000}
set -x
$GWASKIT simulate --out "$D/cohort" --n "$N" --n-external 0 --chromosomes 22 --length-mb "$MB" \
    --seed 7 --quiet --overwrite
$PY examples/ukb_style_inputs.py "$D"
# genotype PCs of the unrelated individuals (plink2-style --keep file: #FID IID)
$GWASKIT pca --bgen "$D/cohort/chr*.bgen" --sample "$D/cohort/chr1.sample" \
    --keep "$D/unrelated.txt" --maf 0.05 --n-pcs 5 --out "$D/pcs.tsv" --overwrite
$PY examples/ukb_style_inputs.py "$D" --covariates
# the scan: unrelated held-out individuals, INFO >= 0.8, MAF >= 0.01, <= 5% missing calls
$GWASKIT scan --bgen "$D/cohort/chr*.bgen" --sample "$D/cohort/chr1.sample" \
    --keep "$D/unrelated.txt" --info-min 0.8 --maf 0.01 --geno 0.05 \
    --pheno "$D/embedding.parquet" --pheno-cols 'emb_*' --split-value test \
    --covar "$D/covariates.tsv" --categorical sex \
    --format gwas-ssf --out "$D/scan.tsv.gz" --overwrite
# the GWAS Catalog's validator on each dimension's file, with its metadata (make oracles)
if [ -x "$GWAS_SSF" ]; then
    for f in "$D"/scan.PC*.tsv.gz; do
        "$GWAS_SSF" validate "$f" --infer-from-metadata --min-rows "$MIN_ROWS" | tail -n 2
    done
fi
set +x
ls "$D"
