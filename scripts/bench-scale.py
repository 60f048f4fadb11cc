#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench-scale.py DIR: project a bench run to a 1 TiB host.

Reads DIR/summary.csv (bench-report.py's medians per mode and size), fits
each phase of each mode to a line over the sizes the run measured (a fixed
part plus a part per GiB), and writes DIR/scale.md: the fits, each phase at
1 TiB for 4 KiB, 2 MiB and 1 GiB pages, the phase that dominates there, and
KHO's boot-time work against the runs and the pages it carried.

1 GiB pages are not in the bench (the VM is too small): they are projected
from the 2 MiB hugetlb rows. Deposit, finalize and retrieve work per folio
(a hold, a page-cache slot, a restore each), so their per-GiB part shrinks
512 times with pages 512 times larger; every other phase keeps its
per-GiB part, which makes the 1 GiB row an upper bound there."""
import csv
import os
import sys

out = sys.argv[1]
TIB_GIB = 1024

# Page kinds: the bench modes that measure them, and pages per GiB.
KINDS = [
    ("4 KiB", "fdbox", "vmm", 262144),
    ("THP (2 MiB)", "fdbox-thp", "vmm-thp", 512),
    ("hugetlb 2 MiB", "fdbox-hugetlb", "vmm-hugetlb", 512),
]
# Phases, where the run has them: (label, mode kind, metrics summed).
# "fd" phases come from the fdbox modes, "vm" ones from the vmm modes.
PHASES = [
    ("deposit + finalize", "fd", ("deposit_s", "finalize_s")),
    ("kexec, raw fit", "fd", ("kexec_s",)),
    ("KHO's boot work", "fd", ("kho_boot_index_s", "kho_boot_keep_s")),
    ("retrieve", "fd", ("retrieve_s",)),
    ("first read of every byte", "fd", ("first_read_s",)),
    ("VM blackout, raw fit", "vm", ("vm_blackout_s",)),
    ("of it retrieve", "vm", ("bo_retrieve_s",)),
    ("of it VM rebuild", "vm", ("bo_rebuild_s",)),
    ("guest's first touch after", "vm", ("touch_after_s",)),
]
KEXEC = "kexec: floor + KHO's boot work"
# Phases inside the blackout, for "what dominates at 1 TiB".
IN_BLACKOUT = (KEXEC, "of it retrieve", "of it VM rebuild")
PER_FOLIO = ("deposit + finalize", "retrieve", "of it retrieve")


def load():
    med = {}
    with open(os.path.join(out, "summary.csv")) as f:
        for r in csv.DictReader(f):
            med[(r["mode"], int(r["mib"]), r["metric"])] = float(r["median"])
    return med


def fit(points):
    """Least squares line through (GiB, s): (fixed s, s per GiB)."""
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return my, 0.0
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    # No work per GiB: a negative slope is noise, the phase its mean.
    if b < 0:
        return my, 0.0
    return my - b * mx, b


def series(med, mode, metrics):
    pts = []
    for mib in sorted({k[1] for k in med if k[0] == mode and k[1] > 0}):
        v = [med.get((mode, mib, m)) for m in metrics]
        if None not in v:
            pts.append((mib / 1024, sum(v)))
    return pts


def fmt(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    return f"{v:.3f}" if abs(v) < 10 else f"{v:.1f}"


def main():
    med = load()
    sizes = sorted({k[1] for k in med if k[1] > 0})
    floor = med.get(("floor", 0, "kexec_s"))
    vm_memory = "bench"
    with open(os.path.join(out, "settings")) as f:
        for line in f:
            if line.startswith("vm_memory "):
                vm_memory = line.split()[1]
    md = ["# fdbox bench: a 1 TiB host, on paper", "",
          f"From the medians of one `make bench` run at {', '.join(map(str, sizes))} "
          "MiB (QEMU TCG: absolute times are slower than hardware; the "
          "shares and the slopes are what carry over). Each phase is fitted "
          "to *fixed + per GiB x size* by least squares and extended to "
          "1024 GiB. 1 GiB pages are projected from the 2 MiB hugetlb rows: "
          "deposit, finalize and retrieve work per folio, so their per-GiB "
          "part is divided by 512; the other phases keep theirs (an upper "
          "bound).", "",
          "A phase with no size-dependent work fits to a slope near zero, "
          "sometimes slightly negative: that is the run's noise, and its "
          "projection is its fixed part.", "",
          "The raw fits of the kexec and of the VM's whole blackout are "
          "shown but not used: under TCG the same "
          "kexec varies by a second or more between steps, which swamps any "
          "slope over 2 GiB. The kexec does no per-page work but KHO's own "
          "(the pages stay where they are), which the new kernel times "
          "exactly; the kexec at 1 TiB is taken as the floor plus that work. "
          f"The floor itself (**{fmt(floor)} s** here) is the same kexec with "
          f"nothing carried in the same {vm_memory} VM; on a 1 TiB host it grows "
          "with the host's memory (the struct pages of 1 TiB are set up at "
          "boot) whether or not anything is carried, which this bench does "
          "not vary.", ""]

    proj = {}   # (kind, phase) -> seconds at 1 TiB
    md += ["## Fits and projections (seconds)", "",
           "| pages | phase | fixed | per GiB | measured at 1 GiB | at 1 TiB |",
           "| --- | --- | ---: | ---: | ---: | ---: |"]
    rows = [(k, fd, vm, ppg, 1) for k, fd, vm, ppg in KINDS]
    rows.append(("1 GiB (from hugetlb 2 MiB)", "fdbox-hugetlb", "vmm-hugetlb", 1, 512))
    for kind, fd, vm, _, shrink in rows:
        for label, where, metrics in PHASES:
            pts = series(med, fd if where == "fd" else vm, metrics)
            if len(pts) < 2:
                continue
            a, b = fit(pts)
            if label in PER_FOLIO:
                b /= shrink
            at1 = dict(pts).get(1.0)
            p = a + b * TIB_GIB
            proj[(kind, label)] = p
            md.append(f"| {kind} | {label} | {fmt(a)} | {b:.4f} "
                      f"| {fmt(at1) if shrink == 1 else '-'} | {fmt(p)} |")
            if label == "KHO's boot work" and floor is not None:
                # The kexec: the floor plus the only work in it that grows
                # with what is carried (the old kernel's finalize is in
                # "deposit + finalize").
                proj[(kind, KEXEC)] = floor + p
                md.append(f"| {kind} | {KEXEC} | {fmt(floor + a)} | {b:.4f} "
                          f"| - | {fmt(floor + p)} |")

    md += ["", "## What dominates the blackout at 1 TiB", "",
           "Of the phases inside the blackout (the kexec, retrieve, the "
           "VM's rebuild), the largest at 1 TiB:", "",
           "| pages | largest phase | its seconds | next |",
           "| --- | --- | ---: | --- |"]
    for kind, *_ in rows:
        ph = sorted(((proj[(kind, l)], l) for l in IN_BLACKOUT if (kind, l) in proj),
                    reverse=True)
        if ph:
            nxt = f"{ph[1][1]} ({fmt(ph[1][0])} s)" if len(ph) > 1 else "-"
            md.append(f"| {kind} | {ph[0][1]} | {fmt(ph[0][0])} | {nxt} |")

    md += ["", "## KHO's boot-time work follows the runs, not the pages", "",
           "What the new kernel logs for the handover (validating and "
           "indexing it, keeping the preserved memory out of its allocators) "
           "against the pages carried and the runs of contiguous memory "
           "they form.", "",
           "| MiB | pages | pages carried | runs | KHO boot work (ms) "
           "| ms per 1000 runs | ms per 1M pages |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for kind, fd, _, ppg in KINDS:
        for mib in sizes:
            runs = med.get((fd, mib, "kho_boot_runs"))
            w = [med.get((fd, mib, m)) for m in ("kho_boot_index_s", "kho_boot_keep_s")]
            pages = mib * ppg // 1024
            if not runs or not pages or None in w:
                continue
            ms = sum(w) * 1e3
            md.append(f"| {mib} | {kind} | {pages} | {runs:.0f} | {ms:.1f} "
                      f"| {ms * 1000 / runs:.2f} | {ms * 1e6 / pages:.1f} |")
    md.append("")
    with open(os.path.join(out, "scale.md"), "w") as f:
        f.write("\n".join(md))
    print(f"bench: {out}/scale.md")


main()
