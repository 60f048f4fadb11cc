#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""bench-report.py DIR: turn the "# bench:" lines of DIR/logs/output.log
into DIR/results.csv (every measurement), DIR/summary.csv (min, median,
max per mode and size), DIR/table.md (with ratios) and DIR/time.png,
DIR/metadata.png (gnuplot).

bench-report.py --profile DIR: turn the "# profile:" lines of a profiling
run (make bench PROFILE=1) into DIR/profile.md."""
import csv
import os
import statistics
import subprocess
import sys

profile_only = sys.argv[1] == "--profile"
out = sys.argv[-1]
GIB = 1024

# Phases before and after the kexec, per mode, that make "the whole live
# update": what it takes from a running VM to its memory usable again.
CARRIED = ["deposit_s", "finalize_s", "kexec_s", "retrieve_s", "first_read_s"]
TOTAL = {
    "fdbox": CARRIED,
    "fdbox-thp": CARRIED,
    "fdbox-hugetlb": CARRIED,
    "fdbox-vfio": CARRIED,
    "luo": ["deposit_s", "kexec_s", "retrieve_s", "first_read_s"],
    "luo-thp": ["deposit_s", "kexec_s", "retrieve_s", "first_read_s"],
    "copy": ["save_s", "kexec_s", "retrieve_s", "first_read_s"],
    "floor": ["kexec_s"],
    "luo-floor": ["kexec_s"],
}
# What the VM cannot run through: fdbox deposits and finalizes while it
# runs; a copy must be taken of a paused VM to be consistent.
BLACKOUT = {
    "fdbox": ["kexec_s", "retrieve_s"],
    "fdbox-thp": ["kexec_s", "retrieve_s"],
    "fdbox-hugetlb": ["kexec_s", "retrieve_s"],
    "fdbox-vfio": ["kexec_s", "retrieve_s"],
    "luo": ["kexec_s", "retrieve_s"],
    "luo-thp": ["kexec_s", "retrieve_s"],
    "copy": ["save_s", "kexec_s", "retrieve_s"],
    "floor": ["kexec_s"],
}


def parse(path, offset=0, rename=None):
    """Steps of one VM run, numbered from @offset; modes renamed by @rename."""
    steps = {}      # nr -> {"mode", "mib", "rep", metrics...}
    if not os.path.exists(path):
        return steps
    with open(path, errors="replace") as f:
        for line in f:
            if not line.startswith("# bench: "):
                continue
            w = line.split()
            if len(w) != 8:
                continue
            nr, mode, mib, rep, key, val = int(w[2]) + offset, w[3], w[4], w[5], w[6], w[7]
            mode = (rename or {}).get(mode, mode)
            s = steps.setdefault(nr, {})
            if mode != "-":
                s.update(mode=mode, mib=int(mib), rep=int(rep))
            s[key] = val
    return steps


# A running VM's blackout (vmm modes), by the host's TSC, which the guest's
# own clock follows: from the guest's last step before the kexec to its
# first after it, in phases that add up to it.
VM_PHASES = [
    ("bo_kexec_s", "guest_last_tsc", "kernel_tsc"),
    ("bo_boot_s", "kernel_tsc", "user_tsc"),
    ("bo_vmm_start_s", "user_tsc", "vmm_main_tsc"),
    ("bo_retrieve_s", "vmm_main_tsc", "vmm_retrieved_tsc"),
    ("bo_rebuild_s", "vmm_retrieved_tsc", "vmm_rebuilt_tsc"),
    ("bo_resume_s", "vmm_rebuilt_tsc", "guest_entry_tsc"),
]


def derive_vm(s):
    """The phases of a vmm step's blackout, in seconds."""
    hz = float(s["tsc_hz"])
    # The new kernel's clocks start early in its boot: that instant on the TSC.
    s["kernel_tsc"] = int(s["user_tsc"]) - float(s["user_boottime_s"]) * hz
    for name, a, b in VM_PHASES:
        s[name] = (float(s[b]) - float(s[a])) / hz
    s["vm_blackout_s"] = (int(s["guest_entry_tsc"]) - int(s["guest_last_tsc"])) / hz
    # How long the guest ran on after the reboot call: the stop is late.
    s["ran_on_s"] = (int(s["guest_last_tsc"]) - int(s["kexec_tsc"])) / hz
    s["touch_after_s"] = int(s["touch_after_ticks"]) / hz
    s["touch_before_s"] = int(s["touch_before_ticks"]) / hz
    # The first touch of a fresh memfd (runs before it had none).
    if int(s.get("touch_fresh_ticks", 0)):
        s["touch_fresh_s"] = int(s["touch_fresh_ticks"]) / hz


def derive(s):
    """kexec_s from the TSC: reboot call to the bench's start after it."""
    try:
        ticks = int(s["user_tsc"]) - int(s["kexec_tsc"])
        s["kexec_s"] = ticks / float(s["tsc_hz"])
    except (KeyError, ValueError, ZeroDivisionError):
        return
    # The TSC must have kept counting: the new kernel's own uptime is
    # part of the interval.
    if s["kexec_s"] < float(s.get("uptime_s", 0)):
        s["kexec_s_invalid"] = 1
    mode = s.get("mode")
    for name, parts in (("total_s", TOTAL), ("blackout_s", BLACKOUT)):
        if mode in parts and all(k in s for k in parts[mode]):
            s[name] = sum(float(s[k]) for k in parts[mode])
    if "total_s" in s:
        s["carry_s"] = s["total_s"] - s["kexec_s"]
    if "memfd_metadata_bytes" in s:
        s["metadata_bytes"] = int(s["memfd_metadata_bytes"]) + int(s["kho_map_bytes"])
    if "guest_entry_tsc" in s and "user_boottime_s" in s:
        derive_vm(s)


def main():
    steps = parse(os.path.join(out, "logs", "output.log"))
    steps.update(parse(os.path.join(out, "logs-luo", "output.log"), 100000,
                       {"floor": "luo-floor"}))
    for s in steps.values():
        derive(s)
    done = {n: s for n, s in steps.items() if "mode" in s and "kexec_s" in s}
    if not done:
        sys.exit("bench: no complete step in the log")
    bad = [n for n, s in done.items() if "kexec_s_invalid" in s]
    if bad:
        print(f"bench: warning: TSC went backwards across the kexec in steps {bad}")
    # Updates that did not arrive intact (the vmm modes go on after one).
    failed = sorted(n for n, s in done.items() if s.get("intact") == "0")
    for n in failed:
        print(f"bench: warning: step {n} ({done[n]['mode']}, {done[n]['mib']} MiB) failed")
    # Their kexec and the new kernel's boot happened; what came after did not.
    kept = ("mode", "mib", "rep", "kexec_s", "uptime_s", "kho_boot_index_s",
            "kho_boot_keep_s", "kho_boot_runs")
    for n in failed:
        done[n] = {k: v for k, v in done[n].items() if k in kept}

    metrics = ["deposit_s", "finalize_s", "save_s", "kexec_s", "retrieve_s",
               "first_read_s", "verify_s", "total_s", "blackout_s", "carry_s",
               "uptime_s", "kho_boot_index_s", "kho_boot_keep_s", "kho_boot_runs",
               "device_deposit_s", "device_retrieve_s",
               "memfd_metadata_bytes",
               "kho_map_bytes", "kho_fdt_bytes", "metadata_bytes",
               "vm_blackout_s", "ran_on_s", "touch_before_s", "touch_after_s",
               "touch_fresh_s"] + \
        [name for name, _, _ in VM_PHASES]
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "mode", "mib", "rep", "metric", "value"])
        for n in sorted(done):
            s = done[n]
            for m in metrics:
                if m in s:
                    w.writerow([n, s["mode"], s["mib"], s["rep"], m, s[m]])

    groups = {}
    for s in done.values():
        for m in metrics:
            if m in s:
                groups.setdefault((s["mode"], s["mib"], m), []).append(float(s[m]))
    summary = {k: (min(v), statistics.median(v), max(v), len(v)) for k, v in groups.items()}
    with open(os.path.join(out, "summary.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mode", "mib", "metric", "min", "median", "max", "n"])
        for k in sorted(summary):
            w.writerow(list(k) + list(summary[k]))

    def med(mode, mib, m):
        v = summary.get((mode, mib, m))
        return v[1] if v else None

    sizes = sorted({s["mib"] for s in done.values() if not s["mode"].endswith("floor")})
    floor = med("floor", 0, "kexec_s")
    settings = open(os.path.join(out, "settings")).read().strip().splitlines()

    def fmt(v, unit="s"):
        if v is None:
            return "-"
        return f"{v:.3f}" if unit == "s" else f"{v:.2f}x"

    def ratio(a, b):
        return fmt(a / b, "x") if a is not None and b else "-"

    md = ["# fdbox bench", "",
          "QEMU TCG: times are relative, not absolute; compare the ratios.", "",
          "| setting | value |", "| --- | --- |"]
    md += [f"| {l.split(' ', 1)[0]} | {l.split(' ', 1)[1] if ' ' in l else ''} |"
           for l in settings]
    md += ["", f"Medians of {summary[('floor', 0, 'kexec_s')][3]} repetitions; "
           "min and max are in summary.csv. The floor is the same kexec with "
           f"nothing preserved: **{fmt(floor)} s** kexec to userspace.", ""]
    if failed:
        md += ["**Failed steps** (the update did not arrive intact; only their "
               "kexec and boot are in the medians): " +
               ", ".join(f"step {n} ({done[n]['mode']}, {done[n]['mib']} MiB)"
                         for n in failed) + ".", ""]
    md += [
           "## Time (seconds)", "",
           "| MiB | mode | deposit | finalize | save | kexec | retrieve | first read "
           "| verify | whole update | blackout | kexec / floor | copy / this: whole "
           "| copy / this: carrying |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
           "| ---: | ---: | ---: |"]
    luo_floor = med("luo-floor", 0, "kexec_s")
    has_peer = luo_floor is not None
    # Modes a run had: hugetlb rows appear once the plan has them.
    ran = {s["mode"] for s in done.values()}
    carried = tuple(m for m in ("fdbox", "fdbox-thp", "fdbox-hugetlb", "fdbox-vfio")
                    if m in ran)
    modes = carried + (("luo", "luo-thp") if has_peer else ()) + \
        (("copy",) if "copy" in ran else ())
    for mib in sizes:
        copy_total = med("copy", mib, "total_s")
        for mode in modes:
            g = lambda m: med(mode, mib, m)
            own_floor = luo_floor if mode.startswith("luo") else floor
            md.append(f"| {mib} | {mode} | {fmt(g('deposit_s'))} | {fmt(g('finalize_s'))} "
                      f"| {fmt(g('save_s'))} | {fmt(g('kexec_s'))} | {fmt(g('retrieve_s'))} "
                      f"| {fmt(g('first_read_s'))} | {fmt(g('verify_s'))} "
                      f"| {fmt(g('total_s'))} | {fmt(g('blackout_s'))} "
                      f"| {ratio(g('kexec_s'), own_floor)} "
                      f"| {ratio(copy_total, g('total_s'))} "
                      f"| {ratio(med('copy', mib, 'carry_s'), g('carry_s'))} |")
    if has_peer:
        md += ["", "## Against the peer: upstream LUO (Linux 7.3, its own floor "
               f"{fmt(luo_floor)} s)", "",
               "Targets: fdbox's deposit + finalize, and its retrieve + first read, "
               "each at most 0.5x LUO's (LUO preserves at PRESERVE_FD and has no "
               "finalize of its own: the kexec serializes).", "",
               "| MiB | pages | fdbox deposit + finalize | LUO preserve | ratio "
               "| fdbox retrieve + first read | LUO retrieve + first read | ratio "
               "| kexec / own floor: fdbox | LUO |",
               "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for mib in sizes:
            for ours, theirs, pages in (("fdbox", "luo", "4 KiB"), ("fdbox-thp", "luo-thp", "THP")):
                def both(mode, keys):
                    v = [med(mode, mib, k) for k in keys]
                    return None if None in v else sum(v)
                a = both(ours, ("deposit_s", "finalize_s"))
                b = both(theirs, ("deposit_s",))
                c = both(ours, ("retrieve_s", "first_read_s"))
                d = both(theirs, ("retrieve_s", "first_read_s"))
                md.append(f"| {mib} | {pages} | {fmt(a)} | {fmt(b)} | {ratio(a, b)} "
                          f"| {fmt(c)} | {fmt(d)} | {ratio(c, d)} "
                          f"| {ratio(med(ours, mib, 'kexec_s'), floor)} "
                          f"| {ratio(med(theirs, mib, 'kexec_s'), luo_floor)} |")
    if "fdbox-vfio" in ran:
        md += ["", "## A live update with a device", "",
               "The same 4 KiB-page memfd, alone (fdbox) and with a vfio-pci "
               "device depending on it (QEMU's edu, no-IOMMU, kept running: "
               "no reset, bus mastering on). Blackout: kexec + retrieve (the "
               "device's retrieve included).", "",
               "| MiB | blackout without | with the device | ratio | kexec ratio "
               "| device deposit | device retrieve |",
               "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for mib in sizes:
            a, b = med("fdbox", mib, "blackout_s"), med("fdbox-vfio", mib, "blackout_s")
            md.append(f"| {mib} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} "
                      f"| {ratio(med('fdbox-vfio', mib, 'kexec_s'), med('fdbox', mib, 'kexec_s'))} "
                      f"| {fmt(med('fdbox-vfio', mib, 'device_deposit_s'))} "
                      f"| {fmt(med('fdbox-vfio', mib, 'device_retrieve_s'))} |")
    vm_modes = [m for m in ("vmm", "vmm-thp", "vmm-hugetlb") if m in ran]
    if vm_modes:
        pages = {"vmm": "4 KiB", "vmm-thp": "THP", "vmm-hugetlb": "hugetlb 2 MiB"}
        guests = sorted({s["guest"] for s in done.values()
                         if s["mode"] in vm_modes and "guest" in s}) or ["?"]
        md += ["", "## Blackout of a running VM", "",
               "The sample VMM (samples/fdbox/fdbox-vmm, a "
               f"{' and '.join(guests)} guest) with its RAM in a memfd. "
               "Deposit and finalize run while the guest runs. The blackout is "
               "the guest's own clock (its TSC, carried into the rebuilt VM) "
               "from its last step before the kexec to its first after it, "
               "split in phases that add up to it: the kexec until the new "
               "kernel's clocks start (the old kernel's shutdown, purgatory, "
               "decompression, early boot), the new kernel's boot to "
               "userspace (of which KHO's own work), the VMM's start, retrieve, "
               "the VM's rebuild and its resume. Target: at most 1.10x the "
               f"floor kexec ({fmt(floor)} s). Touch: the guest's first write "
               "to every page of its RAM after the update, against the first "
               "touch of a fresh memfd of the same size and kind (target: "
               "at most 1.2x), and against the touch before the update, "
               "of RAM the VMM had just written (present in the page cache "
               "and mapped by the VMM: stricter). Medians. The kexec and the boot run the same "
               "kernel as the floor, and TCG swings them by seconds from one "
               "repetition to the next (min and max in summary.csv): the "
               "update's own part, what a plain kexec does not do (KHO at "
               "boot, VMM start, retrieve, rebuild, resume), is added to the "
               "floor in the column the target is read from.", "",
               "| MiB | pages | deposit | finalize | blackout | / floor | kexec "
               "| boot | of it KHO | VMM start | retrieve | VM rebuild | resume "
               "| update's own part | (floor + own part) / floor "
               "| ran on after reboot | touch after / fresh | touch after / before |",
               "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
               "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
        for mib in sizes:
            for mode in vm_modes:
                g = lambda m: med(mode, mib, m)
                if g("vm_blackout_s") is None:
                    continue
                kho = [g("kho_boot_index_s"), g("kho_boot_keep_s")]
                own = kho + [g(m) for m in ("bo_vmm_start_s", "bo_retrieve_s",
                                            "bo_rebuild_s", "bo_resume_s")]
                own = None if None in own else sum(own)
                md.append(f"| {mib} | {pages[mode]} | {fmt(g('deposit_s'))} "
                          f"| {fmt(g('finalize_s'))} | {fmt(g('vm_blackout_s'))} "
                          f"| {ratio(g('vm_blackout_s'), floor)} | {fmt(g('bo_kexec_s'))} "
                          f"| {fmt(g('bo_boot_s'))} "
                          f"| {fmt(None if None in kho else sum(kho))} "
                          f"| {fmt(g('bo_vmm_start_s'))} | {fmt(g('bo_retrieve_s'))} "
                          f"| {fmt(g('bo_rebuild_s'))} | {fmt(g('bo_resume_s'))} "
                          f"| {fmt(own)} "
                          f"| {ratio(None if own is None else floor + own, floor)} "
                          f"| {fmt(g('ran_on_s'))} "
                          f"| {ratio(g('touch_after_s'), g('touch_fresh_s'))} "
                          f"| {ratio(g('touch_after_s'), g('touch_before_s'))} |")
    md += ["", "## Where the kexec goes", "",
           "The kexec to userspace, split at the new kernel's start: the old "
           "kernel's shutdown, purgatory and decompression (kexec - uptime), "
           "then the new kernel's boot until the bench runs (its uptime), of "
           "which KHO's own work: validating and indexing the handover, and "
           "keeping the preserved pages out of the page allocator (logged by "
           "the new kernel). Medians.", "",
           "| MiB | mode | kexec | before the new kernel | new kernel to userspace "
           "| KHO: validate + index | KHO: keep pages out |",
           "| ---: | --- | ---: | ---: | ---: | ---: | ---: |"]
    for mib in [0] + sizes:
        for mode in ("floor",) if mib == 0 else carried + ("copy",):
            k, u = med(mode, mib, "kexec_s"), med(mode, mib, "uptime_s")
            if k is None or u is None:
                continue
            md.append(f"| {mib} | {mode} | {fmt(k)} | {fmt(k - u)} | {fmt(u)} "
                      f"| {fmt(med(mode, mib, 'kho_boot_index_s'))} "
                      f"| {fmt(med(mode, mib, 'kho_boot_keep_s'))} |")
    md += ["", "## Handover metadata", "",
           "memfd runs plus KHO's memory map, per GiB carried (the KHO FDT "
           "header, a few hundred bytes, comes on top once).", "",
           "| MiB | mode | memfd runs (B) | KHO map (B) | bytes per GiB |",
           "| ---: | --- | ---: | ---: | ---: |"]
    for mib in sizes:
        for mode in carried:
            r, k, t = (med(mode, mib, m) for m in
                       ("memfd_metadata_bytes", "kho_map_bytes", "metadata_bytes"))
            if t is None:
                continue
            md.append(f"| {mib} | {mode} | {r:.0f} | {k:.0f} | {t * GIB / mib:.0f} |")
    md += ["", "Whole update: deposit + finalize + kexec + retrieve + first read "
           "for fdbox; save + kexec + read back + first read for copy. Blackout: "
           "what the VM cannot run through (fdbox: kexec + retrieve; copy: save "
           "+ kexec + read back). Carrying: the whole update without its kexec, "
           "i.e. what carrying the memory costs. Verify (a "
           "byte-for-byte check) is part of neither.", ""]
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(md))

    # Plot data: one row per size.
    with open(os.path.join(out, "plot.dat"), "w") as f:
        f.write("# mib fdbox_total thp_total copy_total floor fdbox_meta_per_gib "
                "thp_meta_per_gib luo_total luo_thp_total hugetlb_total "
                "hugetlb_meta_per_gib\n")
        for mib in sizes:
            row = [med("fdbox", mib, "total_s"), med("fdbox-thp", mib, "total_s"),
                   med("copy", mib, "total_s"), floor,
                   (med("fdbox", mib, "metadata_bytes") or 0) * GIB / mib,
                   (med("fdbox-thp", mib, "metadata_bytes") or 0) * GIB / mib,
                   med("luo", mib, "total_s"), med("luo-thp", mib, "total_s"),
                   med("fdbox-hugetlb", mib, "total_s"),
                   (med("fdbox-hugetlb", mib, "metadata_bytes") or 0) * GIB / mib]
            f.write(f"{mib} " + " ".join("NaN" if v is None else f"{v}" for v in row) + "\n")
    peer_lines = (", \\\n     '' u 1:8 w lp lw 2 t 'upstream LUO, 4 KiB pages', "
                  "\\\n     '' u 1:9 w lp lw 2 t 'upstream LUO, THP'") if has_peer else ""
    huge = "fdbox-hugetlb" in carried
    huge_time = ", \\\n     '' u 1:10 w lp lw 2 t 'fdbox, hugetlb 2 MiB pages'" if huge else ""
    huge_meta = ", \\\n     '' u 1:11 w lp lw 2 t 'fdbox, hugetlb 2 MiB pages'" if huge else ""
    gp = f"""
set terminal pngcairo size 900,560 noenhanced
set datafile missing 'NaN'
set logscale x 2
set grid
set key top left
set xlabel 'memfd size (MiB)'
set output '{out}/time.png'
set title 'Whole live update, median (QEMU TCG: relative times)'
set ylabel 'seconds'
set logscale y
plot '{out}/plot.dat' u 1:4 w lp lw 2 t 'copy (io_uring, O_DIRECT)', \\
     '' u 1:2 w lp lw 2 t 'fdbox, 4 KiB pages', \\
     '' u 1:3 w lp lw 2 t 'fdbox, THP', \\
     '' u 1:5 w l dt 2 t 'floor: kexec, nothing carried'{huge_time}{peer_lines}
set output '{out}/metadata.png'
set title 'Handover metadata per GiB carried, median'
set ylabel 'bytes per GiB'
plot '{out}/plot.dat' u 1:6 w lp lw 2 t 'fdbox, 4 KiB pages', \\
     '' u 1:7 w lp lw 2 t 'fdbox, THP'{huge_meta}, \\
     65536 w l dt 2 t 'target, 4 KiB pages: 64 KiB', 1024 w l dt 3 t 'target, THP: 1 KiB'
"""
    if vm_modes:
        with open(os.path.join(out, "blackout.dat"), "w") as f:
            f.write("# mib floor vmm vmm-thp vmm-hugetlb\n")
            for mib in sizes:
                row = [floor] + [med(m, mib, "vm_blackout_s") for m in
                                 ("vmm", "vmm-thp", "vmm-hugetlb")]
                f.write(f"{mib} " + " ".join("NaN" if v is None else f"{v}" for v in row)
                        + "\n")
        gp += f"""
set output '{out}/blackout.png'
set title 'Blackout of a running VM, by its own clock, median'
set xlabel 'guest RAM (MiB)'
set ylabel 'seconds'
unset logscale y
set yrange [0:*]
plot '{out}/blackout.dat' u 1:3 w lp lw 2 t 'fdbox, 4 KiB pages', \\
     '' u 1:4 w lp lw 2 t 'fdbox, THP', \\
     '' u 1:5 w lp lw 2 t 'fdbox, hugetlb 2 MiB pages', \\
     '' u 1:2 w l dt 2 t 'floor: kexec, nothing carried', \\
     '' u 1:($2 * 1.1) w l dt 3 t 'target: 1.10x the floor'
"""
    subprocess.run(["gnuplot"], input=gp, text=True, check=True)
    print("\n".join(md))
    print(f"\nbench: {len(done)} steps; build/bench/{{results.csv,summary.csv,table.md,"
          "time.png,metadata.png,blackout.png}}")
    if failed:
        print(f"bench: {len(failed)} failed step(s), listed in table.md")


def profile():
    """profile.md: the top functions of each profiled phase."""
    rows = {}       # (step, mode, mib, phase) -> [(rank, func, hits, us)]
    with open(os.path.join(out, "logs", "output.log"), errors="replace") as f:
        for line in f:
            w = line.split()
            if line.startswith("# profile: ") and len(w) == 10:
                rows.setdefault((int(w[2]), w[3], w[4], w[5]), []).append(
                    (int(w[6]), w[7], int(w[8]), float(w[9])))
    if not rows:
        sys.exit("bench: no profile in the log")
    md = ["# fdbox bench: kernel profile", "",
          "ftrace's function profiler (make bench PROFILE=1): each function's "
          "hits and time with its children, summed over CPUs. The profiler "
          "hooks every function and slows the phase several times over, so "
          "read the shares, not the seconds. QEMU TCG.", ""]
    for (step, mode, mib, phase), funcs in sorted(rows.items()):
        md += [f"## {mode}, {mib} MiB: {phase}", "",
               "| rank | function | hits | ms | share of the top |",
               "| ---: | --- | ---: | ---: | ---: |"]
        top = max(us for _, _, _, us in funcs) or 1
        for rank, func, hits, us in sorted(funcs):
            md.append(f"| {rank} | {func} | {hits} | {us / 1e3:.1f} | {100 * us / top:.0f} % |")
        md.append("")
    with open(os.path.join(out, "profile.md"), "w") as f:
        f.write("\n".join(md))
    print("\n".join(md))


if profile_only:
    profile()
else:
    main()
