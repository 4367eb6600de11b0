"""Expected host and GPU memory of a simulation study, from its configuration alone.

``gemcont study --config FILE --dry-run`` prints :func:`format_memory` of
:func:`study_memory`: nothing is simulated, read or rendered, and the GPU is not touched
(``device: auto`` is taken to mean CUDA, ``precision: auto`` bf16 there).

How each figure is obtained (per setting, the defaults and every ``vary`` value; the largest
is reported):

* **Variants** M: the expected number of single-mutation sites kept by
  :func:`gwaskit.simulate.simulate_cohort`'s MAF filter under its neutral constant-size model,
  ``θ·L·Σ_{i=k}^{2N−k} 1/i`` with ``θ = 4·Ne·μ`` per bp (its defaults), ``L`` the simulated
  length and ``k`` the minor-allele count the filter needs among the ``2N`` haplotypes.
* **Host**, held for the whole setting: the cohort's dosages at their stored dtype (int8 for
  the simulated hard calls, :func:`.study.compact_dosages`), the panels (at most
  :data:`PANEL_VARIANTS_PER_CAUSAL` variants per causal one, int8), the images (uint8). Then
  the largest of three phases: reading (one float32 block of
  :data:`.study.DOSAGE_BLOCK` variants), training (the trainer's copy of the run's images, the
  genetic input in float64 while it is prepared, DataLoader batches plus their pinned copies,
  model and optimiser states, and the activations when training on the CPU) and the GWAS
  scan (the held-out rows widened to float32, plus the scan's centred copy).
* **GPU**, per trained method (the largest is reported): parameters, gradients, the two AdamW
  moments and the best-epoch copy (early stopping) in fp32; the activations autograd saves
  for one training step, counted by running the phenotype encoder (twice for SimCLR's two
  views, plus the VAE decoder) on the ``meta`` device with
  :func:`torch.autograd.graph.saved_tensors_hooks` at the configured batch size and image
  size, in bf16 when training in bf16; the batch (uint8 on arrival, float32 when widened,
  two float32 copies for augmentation). cuDNN workspaces, the CUDA context (~0.5 GB) and
  allocator fragmentation are not included.

The simulation that runs once per cohort (msprime, :func:`gwaskit.simulate.simulate_cohort`,
then cached on disk) runs in the same process before training; the headline host figure is the
larger of it (:func:`simulation_bytes`) and the training peak.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: upper bound on panel size per causal variant (clumped panel: about one lead per locus)
PANEL_VARIANTS_PER_CAUSAL = 10
#: float32 copies of the batch on the device besides the uint8 one (widened + augmentation)
BATCH_FLOAT_COPIES = 3


@dataclass
class Item:
    """One line of the estimate: what, how many bytes, and how it was counted."""

    label: str
    nbytes: float
    note: str = ""


@dataclass
class SettingMemory:
    """Expected memory of one setting."""

    name: str
    n_individuals: int
    n_variants: int
    image_size: int
    host: list[Item] = field(default_factory=list)
    host_phases: dict[str, list[Item]] = field(default_factory=dict)
    gpu: list[Item] = field(default_factory=list)
    gpu_method: str = ""
    simulation: float = 0.0

    @property
    def host_bytes(self) -> float:
        """Resident arrays plus the largest phase."""
        resident = sum(i.nbytes for i in self.host)
        return resident + max([sum(i.nbytes for i in p) for p in self.host_phases.values()]
                              + [0.0])

    @property
    def peak_phase(self) -> str:
        sizes = {k: sum(i.nbytes for i in p) for k, p in self.host_phases.items()}
        return max(sizes, key=sizes.get) if sizes else ""

    @property
    def gpu_bytes(self) -> float:
        return sum(i.nbytes for i in self.gpu)


def expected_variants(n_individuals: int, n_chromosomes: int, chrom_length_mb: float) -> int:
    """Expected variants kept by :func:`gwaskit.simulate.simulate_cohort` (its default rates).

    Neutral constant-size coalescent: a site carried by ``i`` of ``n = 2N`` haplotypes is
    expected ``θ/i`` times per bp; the filter keeps minor-allele counts ``k..n−k`` with
    ``k = ceil(maf·n)`` (the study cohort's filter; the external one only drops sites
    monomorphic there, rare for these frequencies).
    """
    from gwaskit.simulate import simulate_cohort

    defaults = {k: v.default for k, v in inspect.signature(simulate_cohort).parameters.items()}
    theta = 4.0 * float(defaults["ne"]) * float(defaults["mutation_rate"])
    n = 2 * int(n_individuals)
    k = max(1, math.ceil(float(defaults["maf"]) * n - 1e-9))
    if n - k < k:
        return 0
    i = np.arange(k, n - k + 1, dtype=np.float64)
    length = n_chromosomes * chrom_length_mb * 1e6
    return int(round(theta * length * float((1.0 / i).sum())))


def simulation_bytes(n_study: int, n_external: int, n_variants: int,
                     n_chromosomes: int) -> float:
    """Expected peak host bytes of :func:`gwaskit.simulate.simulate_cohort`.

    ``n = n_study + n_external`` individuals, ``M`` variants, ``C`` chromosomes: the int8
    counts of both cohorts (``n·M``); one chromosome more (``n·M/C``: while the last one is
    in flight, its per-site columns and their stacked copy; afterwards the heap keeps about
    that much of the freed columns); and the larger of one row range of the final join
    (``n·M/ROW_PIECES``) and the external GWAS's float64 working set (two
    ``n_external × chunk_size`` arrays). The interpreter and msprime's tree sequence are not
    counted; ``benchmarks/bench_simulate_memory.py`` measures the whole process against it.
    """
    from gwaskit.simulate.genotypes import ROW_PIECES
    from gwaskit.simulate.gwas import linear_regression

    chunk = int(inspect.signature(linear_regression).parameters["chunk_size"].default)
    counts = float(n_study + n_external) * n_variants
    return (counts * (1.0 + 1.0 / max(1, n_chromosomes))
            + max(counts / ROW_PIECES, 2.0 * 8.0 * n_external * min(chunk, n_variants)))


def _saved_bytes(fn: Any) -> float:
    """Bytes of the tensors autograd saves while ``fn()`` runs (on the meta device)."""
    import torch

    total = [0]

    def pack(t: torch.Tensor) -> torch.Tensor:
        total[0] += t.numel() * t.element_size()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn()
    return float(total[0])


def _method_gpu(tcfg: Any, shape: tuple[int, ...], n_genetic: int, batch: int,
                low_precision: bool) -> tuple[int, float]:
    """Parameters of ``tcfg``'s model and the activation bytes of one training step.

    The model is built on the meta device (no memory, no GPU); activations are ``nan`` when
    the encoder cannot run there (e.g. a frozen backbone that has to be read from a file).
    """
    import torch

    from .models import build_model

    betas = np.ones(n_genetic) if n_genetic else None
    with torch.device("meta"):
        # restore=True: no beta-based initialisation (it reads values, which meta has not)
        model = build_model(tcfg, shape, n_genetic, betas, 1, restore=True)
    n_params = sum(p.numel() for p in model.parameters())
    dtype = torch.bfloat16 if low_precision else torch.float32
    model = model.to(dtype=dtype).train()
    views = 2 if tcfg.method == "simclr" else 1
    try:
        x = torch.empty((batch * views,) + tuple(shape), device="meta", dtype=dtype)
        act = _saved_bytes(lambda: model.encoder(x))
        if tcfg.method == "vae":
            z = torch.empty((batch, tcfg.embed_dim), device="meta", dtype=dtype)
            act += _saved_bytes(lambda: model.decoder(z))
    except Exception:  # noqa: BLE001 - an encoder that cannot run on meta: say so
        act = math.nan
    return n_params, act


def study_memory(cfg: Any) -> list[SettingMemory]:
    """Expected memory of every setting of the study ``cfg`` (a validated ``StudyConfig``).

    Returns
    -------
    One :class:`SettingMemory` per setting, in the study's order.
    """
    from .study import DOSAGE_BLOCK, STUDY_METHODS, settings, total_individuals, train_config

    n_total = total_individuals(cfg)
    out = []
    for name, change in settings(cfg):
        scfg = dataclasses.replace(cfg, **change)
        m = expected_variants(n_total, scfg.n_chromosomes, scfg.chrom_length_mb)
        s_panel = min(m, PANEL_VARIANTS_PER_CAUSAL * scfg.n_causal)
        img = scfg.image_size * scfg.image_size          # one grey channel, uint8
        rows = scfg.n_train + scfg.n_heldout
        n_val = int(round(scfg.val_fraction * scfg.n_train))
        n_fit = scfg.n_train - n_val
        genetic = [x for x in scfg.methods if STUDY_METHODS[x].genetic]
        thresholds = {scfg.method_panel_p(x) for x in genetic} | {float(scfg.panel_p)}
        sm = SettingMemory(name, n_total, m, scfg.image_size)
        sm.host = [
            Item("cohort dosages", n_total * m, f"{n_total:,} x {m:,} int8"),
            Item("panel dosages", len(thresholds) * n_total * s_panel,
                 f"{len(thresholds)} panel(s) of <= {s_panel:,} variants, int8"),
            Item("images", n_total * img, f"{n_total:,} x 1 x {scfg.image_size}^2 uint8"),
        ]
        sm.host_phases["reading dosages"] = [
            Item("one decoded block", 2 * n_total * min(m, DOSAGE_BLOCK) * 4,
                 f"{min(m, DOSAGE_BLOCK):,} variants, float32, x2")]
        trained = [x for x in scfg.methods if STUDY_METHODS[x].trained]
        cuda = str(scfg.train.get("device", "auto")) not in ("cpu",)
        best_total = 0.0
        tr_host: list[Item] = []
        for x in dict.fromkeys(scfg.methods):
            spec = STUDY_METHODS[x]
            if spec.trainer is None:
                continue
            tcfg = train_config(scfg, x, 0)
            prec = tcfg.precision if tcfg.precision != "auto" else ("bf16" if cuda else "fp32")
            batch = min(tcfg.batch_size, max(2, n_fit))
            n_gen = (1 if spec.trainer == "prs" else s_panel) if spec.genetic else 0
            n_params, act = _method_gpu(tcfg, (1, scfg.image_size, scfg.image_size), n_gen,
                                        batch, cuda and prec in ("bf16", "fp16"))
            states = 5 * 4 * n_params        # weights, grads, 2 AdamW moments, best copy
            inputs = batch * img * (1 + 4 * BATCH_FLOAT_COPIES) * (2 if x == "simclr" else 1)
            scarf = (n_fit * n_gen * 4 if spec.genetic and tcfg.scarf_pool == "cohort" else 0)
            act_ok = act if math.isfinite(act) else 0.0
            total = states + inputs + scarf + (act_ok if x in trained else 0.0)
            if total > best_total:
                best_total = total
                prefetch = max(1, 2 * int(tcfg.num_workers))
                tr_host = [
                    Item("trainer's copy of the run's images", rows * img,
                         f"{rows:,} rows uint8"),
                    Item("genetic input while prepared", rows * n_gen * (3 * 8 + 3 * 4),
                         "float64 work arrays, float32 input and dataset copies"),
                    Item("DataLoader batches", 2 * prefetch * batch * img,
                         f"{prefetch} batch(es) of {batch} uint8, plus pinned copies"),
                    Item("model and optimiser states (checkpointing)", 4 * 4 * n_params,
                         f"{n_params:,} parameters, fp32 x4")]
                if not cuda:
                    tr_host.append(Item("activations (CPU training)", act_ok,
                                        f"batch {batch}, saved tensors counted on meta"))
                gpu = [Item("parameters, gradients, AdamW moments, best copy", states,
                            f"{n_params:,} parameters, fp32 x5"),
                       Item("activations", act,
                            f"batch {batch} x {scfg.image_size}^2, {prec}"
                            + (", two views" if x == "simclr" else "")
                            + ("" if math.isfinite(act) else " (not estimated)")),
                       Item("batch on the device", inputs,
                            f"uint8 + {BATCH_FLOAT_COPIES} float32 copies")]
                if scarf:
                    gpu.append(Item("SCARF cohort pool", scarf, f"{n_fit:,} x {n_gen:,} fp32"))
                sm.gpu, sm.gpu_method = (gpu if cuda else []), x
        sm.host_phases["training"] = tr_host
        sm.host_phases["GWAS scan"] = [
            Item("held-out dosages widened", 2 * scfg.n_heldout * m * 4,
                 f"{scfg.n_heldout:,} x {m:,} float32, plus the scan's centred copy")]
        n_ext = n_total + scfg.n_external
        m_ext = expected_variants(n_ext, scfg.n_chromosomes, scfg.chrom_length_mb)
        sm.simulation = simulation_bytes(n_total, scfg.n_external, m_ext, scfg.n_chromosomes)
        out.append(sm)
    return out


def _gb(nbytes: float) -> str:
    if not math.isfinite(nbytes):
        return "n/a"
    # small studies still show a non-zero figure
    return f"{nbytes / 1e9:.2f} GB" if nbytes >= 1e7 or nbytes == 0 else f"{nbytes / 1e9:.6f} GB"


def format_memory(cfg: Any, estimates: list[SettingMemory]) -> str:
    """The dry-run report: the largest setting's host and GPU figures with their parts.

    The first two lines read ``expected host memory: X GB ...`` and ``expected GPU memory:
    Y GB ...`` (GB = 1e9 bytes).
    """
    host = max(estimates, key=lambda e: e.host_bytes)
    gpu = max(estimates, key=lambda e: e.gpu_bytes)
    sim = max(estimates, key=lambda e: e.simulation)
    if sim.simulation > host.host_bytes:
        lines = [f"expected host memory: {_gb(sim.simulation)} (setting {sim.name}, peak while "
                 "simulating its cohort)"]
    else:
        lines = [f"expected host memory: {_gb(host.host_bytes)} (setting {host.name}, peak "
                 f"while {host.peak_phase})"]
    if gpu.gpu:
        lines.append(f"expected GPU memory: {_gb(gpu.gpu_bytes)} (setting {gpu.name}, method "
                     f"{gpu.gpu_method}; excludes the CUDA context and cuDNN workspaces)")
    else:
        lines.append("expected GPU memory: 0.00 GB (train.device: cpu)")
    lines.append("")
    lines.append(f"host, setting {host.name}: {host.n_individuals:,} individuals, about "
                 f"{host.n_variants:,} variants, {host.image_size}^2 images "
                 "(only the current setting's arrays are held)")
    for it in host.host:
        lines.append(f"  {it.label:<48} {_gb(it.nbytes):>10}  {it.note}")
    for phase, items in host.host_phases.items():
        mark = " (peak)" if phase == host.peak_phase else ""
        lines.append(f"  while {phase}{mark}:")
        for it in items:
            lines.append(f"    {it.label:<46} {_gb(it.nbytes):>10}  {it.note}")
    if gpu.gpu:
        lines.append(f"GPU, setting {gpu.name}, method {gpu.gpu_method}:")
        for it in gpu.gpu:
            lines.append(f"  {it.label:<48} {_gb(it.nbytes):>10}  {it.note}")
    lines.append(f"simulation of setting {sim.name}'s cohort (once, then cached on disk): "
                 f"{_gb(sim.simulation)} (int8 counts of {sim.n_individuals + cfg.n_external:,} "
                 "study and external individuals, plus one chromosome and the external GWAS's "
                 "working set)")
    lines.append("settings: " + "; ".join(
        f"{e.name} host {_gb(e.host_bytes)}" + (f", GPU {_gb(e.gpu_bytes)}" if e.gpu else "")
        for e in estimates))
    return "\n".join(lines) + "\n"
