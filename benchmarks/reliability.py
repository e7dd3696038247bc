"""Reliability: bad inputs, tampered agent records and faults, each through the real CLI.

Every case runs ``aihep ...`` in a fresh directory (a subprocess, as a user would) and checks
what the issue asked for:

* bad input: exit code 2, exactly one ``error:`` line naming the file or option, no
  traceback, and the output the command was asked to write does not exist;
* a failed agent run (nothing could be hunted): a non-zero exit that says why;
* tampering with an agent run: ``aihep agent verify`` exits 1 with the problem, no traceback
  (a wholesale re-chained record is caught only against a head kept outside the run);
* faults: kill -9 during generation then rerun, a truncated chunk, a trigger that cannot
  fire, a SLURM submission the scheduler rejects (when SLURM runs here).

Prints a Markdown table and writes benchmarks/results/reliability.json (commit, date).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from common import git_commit

ROOT = Path(__file__).resolve().parent
AIHEP = [sys.executable, "-m", "aihep"]
HEADER = ",m_JJ,m_J1,delta_m_J,tau_2_over_tau_1_J1,tau_2_over_tau_1_J2\n"
ROW = "{i},{m},100,50,0.5,0.5\n"


def run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "COLUMNS": "200"}
    return subprocess.run([*AIHEP, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    return path


def table_csv(d: Path, rows: list[str] | None = None, name: str = "data.csv") -> Path:
    return write(d / name, HEADER + "".join(rows or [ROW.format(i=i, m=3000 + i)
                                                     for i in range(20)]))


def fake_dataset(d: Path) -> Path:
    write(d / "ds" / "manifest.json", json.dumps({"kind": "aihep.events"}))
    write(d / "ds" / "report.html", "<html></html>")
    return d / "ds"


# (name, setup(dir) -> argv, path that must not be written (relative), expected exit)
BadInput = tuple[str, Callable[[Path], list[str]], str | None, int]
BAD_INPUTS: list[BadInput] = [
    ("hunt: missing data file", lambda d: ["hunt", "nope.csv", "-o", "h"], "h", 2),
    ("hunt: YAML given as data", lambda d: [
        "hunt", str(write(d / "c.yaml", "a: 1\n")), "-o", "h"], "h", 2),
    ("hunt: CSV with wrong columns", lambda d: [
        "hunt", str(write(d / "x.csv", "a,b\n1,2\n")), "-o", "h"], "h", 2),
    ("hunt: CSV with a text value", lambda d: [
        "hunt", str(table_csv(d, ["0,abc,100,50,0.5,0.5\n"])), "-o", "h"], "h", 2),
    ("hunt: duplicate event index", lambda d: [
        "hunt", str(table_csv(d, [ROW.format(i=0, m=3000), ROW.format(i=0, m=3100)])),
        "-o", "h"], "h", 2),
    ("hunt: fractional event index", lambda d: [
        "hunt", str(table_csv(d, [ROW.format(i=0.5, m=3000)])), "-o", "h"], "h", 2),
    ("hunt: negative jet mass", lambda d: [
        "hunt", str(table_csv(d, ["0,3000,-100,50,0.5,0.5\n"])), "-o", "h"], "h", 2),
    ("hunt: inverted --sr", lambda d: [
        "hunt", str(table_csv(d)), "--sr", "3700,3300", "-o", "h"], "h", 2),
    ("hunt: --sr not numbers", lambda d: [
        "hunt", str(table_csv(d)), "--sr", "abc", "-o", "h"], "h", 2),
    ("hunt: unknown method", lambda d: [
        "hunt", str(table_csv(d)), "-m", "magic", "-o", "h"], "h", 2),
    ("hunt: --out is a file", lambda d: [
        "hunt", str(table_csv(d)), "-o", str(write(d / "f.txt", "x"))], None, 2),
    ("hunt: --out holds a dataset", lambda d: [
        "hunt", str(table_csv(d)), "-o", str(fake_dataset(d))], "ds/scores.csv", 2),
    ("hunt: bad labels file", lambda d: [
        "hunt", str(table_csv(d)), "--labels", str(write(d / "l.csv", "index,label\n0,1\n")),
        "-o", "h"], "h", 2),
    ("generate: unknown process", lambda d: ["generate", "higgs", "-o", "g"], "g", 2),
    ("generate: setting Pythia rejects", lambda d: [
        "generate", "qcd-dijet", "--set", "Foo:bar = 3", "-o", "g"], "g", 2),
    ("generate: unknown --param", lambda d: [
        "generate", "qcd-dijet", "--param", "m_x_gev=3", "-o", "g"], "g", 2),
    ("generate: --param not NAME=NUMBER", lambda d: [
        "generate", "wprime-xy", "--param", "m_x_gev", "-o", "g"], "g", 2),
    ("generate: X above the W' mass", lambda d: [
        "generate", "wprime-xy", "--param", "m_x_gev=4000", "-o", "g"], "g", 2),
    ("generate: zero events", lambda d: ["generate", "qcd-dijet", "-n", "0", "-o", "g"],
     "g", 2),
    ("generate: cluster options with --executor local", lambda d: [
        "generate", "qcd-dijet", "-o", "g", "--cluster-config",
        str(write(d / "c.yaml", "queue: main\n"))], "g", 2),
    ("generate: cluster config not a mapping", lambda d: [
        "generate", "qcd-dijet", "-o", "g", "--executor", "slurm", "--cluster-config",
        str(write(d / "c.yaml", "- a\n- b\n"))], "g", 2),
    ("generate: SLURM options on dask-local", lambda d: [
        "generate", "qcd-dijet", "-o", "g", "--executor", "dask-local", "--cluster-config",
        str(write(d / "c.yaml", "queue: main\n"))], "g", 2),
    ("generate: --out holds a hunt", lambda d: [
        "generate", "qcd-dijet", "-n", "5", "-o", str(write(
            d / "hh" / "manifest.json", json.dumps({"kind": "aihep.hunt"})).parent)],
     "hh/events", 2),
    ("dataset lhco: X above the W' mass", lambda d: [
        "dataset", "lhco", "--m-x", "4000", "--background", "10", "-o", "l"], "l", 2),
    ("dataset lhco: --signal and --s-over-b", lambda d: [
        "dataset", "lhco", "--signal", "5", "--s-over-b", "0.1", "-o", "l"], "l", 2),
    ("reco simulate: 3-DOM geometry (never triggers)", lambda d: [
        "reco", "simulate", "-n", "5", "--geometry", str(write(
            d / "g.csv", "x,y,z\n0,0,0\n0,0,30\n0,0,60\n")), "-o", "r"], "r", 2),
    ("reco simulate: geometry header", lambda d: [
        "reco", "simulate", "--geometry", str(write(d / "g.csv", "a,b\n1,2\n")), "-o", "r"],
     "r", 2),
    ("reco simulate: geometry text value", lambda d: [
        "reco", "simulate", "--geometry", str(write(d / "g.csv", "x,y,z\n0,0,zz\n")),
        "-o", "r"], "r", 2),
    ("reco evaluate: unknown method", lambda d: [
        "reco", "evaluate", "magic", str(write(d / "e.parquet", b"PAR1")), "-o", "r"],
     "r", 2),
    ("reco evaluate: missing data", lambda d: [
        "reco", "evaluate", "linefit", "nope.parquet", "-o", "r"], "r", 2),
    ("tag train: unknown model", lambda d: [
        "tag", "train", "resnet", str(write(d / "j.parquet", b"PAR1")), "-o", "t"], "t", 2),
    ("tag train: CSV data", lambda d: [
        "tag", "train", "pfn", str(write(d / "j.csv", "a,b\n")), "-o", "t"], "t", 2),
    ("tag train: truncated ROOT", lambda d: [
        "tag", "train", "pfn", str(write(d / "j.root", b"root\x00" * 40)), "-o", "t"], "t", 2),
    ("tag train: garbage HDF5", lambda d: [
        "tag", "train", "pfn", str(write(d / "j.h5", b"\x89HDF\r\n" * 50)), "-o", "t"],
     "t", 2),
    ("tag train: truncated Parquet", lambda d: [
        "tag", "train", "pfn", str(write(d / "j.parquet", b"PAR1" + b"\x00" * 64)),
        "-o", "t"], "t", 2),
    ("tag evaluate: not a run", lambda d: [
        "tag", "evaluate", "norun", str(write(d / "j.parquet", b"PAR1"))], None, 2),
    ("tag dataset: unknown kind", lambda d: ["tag", "dataset", "quarks", "-o", "t"], "t", 2),
    ("info: missing path", lambda d: ["info", "nope"], None, 2),
    ("info --check: a file, not a directory", lambda d: [
        "info", str(table_csv(d)), "--check"], None, 2),
    ("agent run: --out is a file", lambda d: [
        "agent", "run", str(table_csv(d)), "-o", str(write(d / "f.txt", "x"))], None, 2),
    ("agent run: policy run_dir differs from --out", lambda d: [
        "agent", "run", str(table_csv(d)), "-o", "a", "--policy",
        str(write(d / "p.yaml", "run_dir: elsewhere\n"))], "a", 2),
    ("agent run: policy not YAML", lambda d: [
        "agent", "run", str(table_csv(d)), "-o", "a", "--policy",
        str(write(d / "p.yaml", "run_dir: [\n"))], "a", 2),
    ("agent run: unknown policy field", lambda d: [
        "agent", "run", str(table_csv(d)), "-o", "a", "--policy",
        str(write(d / "p.yaml", "sudo: true\n"))], "a", 2),
    ("agent run: unknown planner", lambda d: [
        "agent", "run", str(table_csv(d)), "-o", "a", "--planner", "oracle"], "a", 2),
    ("agent solve: no background file", lambda d: [
        "agent", "solve", str(table_csv(d / "task").parent), "-o", "a"], "a", 2),
    ("agent verify: no run", lambda d: ["agent", "verify", "nope"], None, 2),
    ("agent verify: --head not a hash", lambda d: [
        "agent", "verify", str(write(d / "r" / "x", "").parent), "--head", "xyz"], None, 2),
    ("agent run: every hunt fails (YAML data)", lambda d: [
        "agent", "run", str(write(d / "data.yaml", "a: 1\n")), "-o", "a"], None, 1),
]


def bad_input_case(name: str, setup: Callable[[Path], list[str]], absent: str | None,
                   expected: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        args = setup(d)
        done = run(args, d)
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        problems = []
        if done.returncode != expected:
            problems.append(f"exit {done.returncode}")
        if "Traceback" in done.stderr + done.stdout:
            problems.append("traceback")
        if len(errors) != 1:
            problems.append(f"{len(errors)} error lines")
        if absent is not None and (d / absent).exists():
            problems.append(f"{absent} was written")
        return {"case": name, "command": "aihep " + " ".join(
            a.replace(str(d) + "/", "") for a in args), "exit": done.returncode,
            "ok": not problems, "problems": problems,
            "message": errors[0][7:].replace(str(d) + "/", "")[:200] if errors else ""}


def _agent_run(base: Path) -> Path:
    """A small real agent run: inspect + a CWoLa hunt on a toy table (its record, outputs)."""
    sys.path.insert(0, str(ROOT.parent / "tests" / "agent"))
    import pyarrow as pa
    import pyarrow.parquet as pq
    from toy import toy_table

    from aihep.agent.orchestrator import run_agent
    from aihep.agent.playbook import ResonanceTask

    data = base / "data.parquet"
    pq.write_table(pa.table(toy_table(6000, 300, 1)), data)
    fast = {"n_folds": 2, "n_toys": 20, "keep_fraction": 0.05,
            "scan_range_gev": [3100, 3900], "classifier": {"n_ensemble": 1, "max_iter": 40}}
    run_agent(ResonanceTask(data=data, hunt=fast, seed=3), base / "run")
    return base / "run"


def _lines(run_dir: Path) -> list[str]:
    return (run_dir / "provenance.jsonl").read_text().splitlines()


def _set_lines(run_dir: Path, lines: list[str]) -> None:
    (run_dir / "provenance.jsonl").write_text("".join(line + "\n" for line in lines))


def _manifest(run_dir: Path, change: Callable[[dict], None]) -> None:
    path = run_dir / "agent_manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _rechain(run_dir: Path, edit: Callable[[list[dict]], None]) -> None:
    from aihep.workflow.provenance import canonical_hash

    entries = [json.loads(line) for line in _lines(run_dir)]
    edit(entries)
    prev = "0" * 64
    for i, entry in enumerate(entries):
        entry["index"], entry["prev"] = i, prev
        entry["hash"] = prev = canonical_hash(entry)
    _set_lines(run_dir, [json.dumps(e) for e in entries])
    _manifest(run_dir, lambda m: m.update(head=prev, length=len(entries)))


def _hunt_file(run_dir: Path, name: str) -> Path:
    return next(run_dir.glob(f"hunt_*/{name}"))


def _edit_json_entry(run_dir: Path, i: int, change: Callable[[dict], None]) -> None:
    lines = _lines(run_dir)
    entry = json.loads(lines[i])
    change(entry)
    lines[i] = json.dumps(entry)
    _set_lines(run_dir, lines)


TAMPER: list[tuple[str, Callable[[Path], None], bool]] = [
    # (name, damage, caught only with an external head)
    ("edit an entry's arguments", lambda r: _edit_json_entry(
        r, 1, lambda e: e["arguments"].update(data="other.parquet")), False),
    ("change a refusal or error into ok", lambda r: _edit_json_entry(
        r, 0, lambda e: e.update(status="error")), False),
    ("delete a middle entry", lambda r: _set_lines(r, [_lines(r)[0], *_lines(r)[2:]]), False),
    ("reorder two entries", lambda r: _set_lines(
        r, [_lines(r)[1], _lines(r)[0], *_lines(r)[2:]]), False),
    ("duplicate an entry", lambda r: _set_lines(r, [*_lines(r), _lines(r)[-1]]), False),
    ("drop the last entry", lambda r: _set_lines(r, _lines(r)[:-1]), False),
    ("drop the last entry and head/length from the manifest", lambda r: (
        _set_lines(r, _lines(r)[:-1]),
        _manifest(r, lambda m: (m.pop("head"), m.pop("length")))), False),
    ("append an unchained entry", lambda r: _set_lines(r, [*_lines(r), json.dumps(
        {"index": 99, "tool": "hunt", "status": "ok"})]), False),
    ("manifest head replaced", lambda r: _manifest(r, lambda m: m.update(head="1" * 64)),
     False),
    ("manifest length changed", lambda r: _manifest(r, lambda m: m.update(length=1)), False),
    ("edit the hunt's results.json", lambda r: write(
        _hunt_file(r, "results.json"), _hunt_file(r, "results.json").read_text().replace(
            "true", "false")), False),
    ("edit the hunt's scores.csv", lambda r: write(
        _hunt_file(r, "scores.csv"), _hunt_file(r, "scores.csv").read_text()[:-20]), False),
    ("delete the hunt's scores.csv", lambda r: _hunt_file(r, "scores.csv").unlink(), False),
    ("edit agent_report.json", lambda r: write(r / "agent_report.json", "{}"), False),
    ("edit memory.json", lambda r: write(r / "memory.json", "{}"), False),
    ("delete the record", lambda r: (r / "provenance.jsonl").unlink(), False),
    ("a record line that is 1", lambda r: _set_lines(r, [*_lines(r), "1"]), False),
    ("a record line that is []", lambda r: _set_lines(r, ["[]", *_lines(r)]), False),
    ("a record line that is not JSON", lambda r: _set_lines(r, [*_lines(r), "{oops"]), False),
    ("binary garbage record", lambda r: write(r / "provenance.jsonl", b"\xff\xfe\x00"),
     False),
    ("manifest that is []", lambda r: write(r / "agent_manifest.json", "[]"), False),
    ("manifest deleted", lambda r: (r / "agent_manifest.json").unlink(), False),
    ("re-chain after an edit, update the manifest", lambda r: _rechain(
        r, lambda es: es[1]["arguments"].update(data="other.parquet")), True),
    ("re-chain after deleting an entry, update the manifest", lambda r: _rechain(
        r, lambda es: es.pop(1)), True),
    ("rewrite an output, its digest and the chain", lambda r: (
        write(_hunt_file(r, "results.json"), "{}"),
        _rechain(r, lambda es: [e["outputs"].update({
            k: hashlib.sha256(b"{}").hexdigest() for k in e["outputs"]
            if k.endswith("results.json")}) for e in es])), True),
]


def tamper_case(name: str, damage: Callable[[Path], None], external_only: bool,
                pristine: Path) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        shutil.copytree(pristine, run_dir)
        head = json.loads((pristine / "agent_manifest.json").read_text())["head"]
        damage(run_dir)
        plain = run(["agent", "verify", str(run_dir)], Path(tmp))
        kept = run(["agent", "verify", str(run_dir), "--head", head], Path(tmp))
        traceback = "Traceback" in plain.stderr + kept.stderr
        caught_plain, caught_kept = plain.returncode == 1, kept.returncode == 1
        ok = caught_kept and not traceback and (caught_plain or external_only)
        return {"case": name, "caught_without_head": caught_plain,
                "caught_with_external_head": caught_kept, "traceback": traceback, "ok": ok}


def fault_generation_kill(base: Path) -> dict[str, object]:
    """kill -9 twice during generation, rerun: the same chunks as an uninterrupted run."""
    args = ["generate", "qcd-dijet", "-n", "300", "--chunk-size", "50", "--seed", "7",
            "--set", "PartonLevel:MPI = off"]
    run([*args, "-o", "full"], base)
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    for kills in range(2):
        process = subprocess.Popen([*AIHEP, *args, "-o", "part"], cwd=base, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        deadline = time.time() + 120
        while time.time() < deadline and len(list((base / "part" / "events").glob(
                "*.json"))) < 2 * (kills + 1):
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done = run([*args, "-o", "part"], base)

    def chunks(d: str) -> dict[str, str]:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                for p in sorted((base / d / "events").glob("*.parquet"))}

    same = done.returncode == 0 and chunks("full") == chunks("part")
    return {"fault": "kill -9 twice during `generate`, then rerun", "ok": same,
            "detail": f"{len(chunks('part'))} chunks byte-identical to an uninterrupted run"
            if same else done.stderr[-300:]}


def fault_truncated_chunk(base: Path) -> dict[str, object]:
    args = ["generate", "qcd-dijet", "-n", "100", "--chunk-size", "50", "--seed", "8",
            "--set", "PartonLevel:MPI = off", "-o", "t"]
    run(args, base)
    before = (base / "t" / "events" / "chunk-000000.parquet").read_bytes()
    write(base / "t" / "events" / "chunk-000000.parquet", before[:300])
    check = run(["info", "t", "--check", "--json"], base)
    rerun = run(args, base)
    after = (base / "t" / "events" / "chunk-000000.parquet").read_bytes()
    ok = check.returncode == 1 and rerun.returncode == 0 and after == before
    return {"fault": "truncated chunk: `info --check`, then rerun", "ok": ok,
            "detail": "info --check exit 1; the rerun made the chunk again, byte-identical"
            if ok else f"check {check.returncode}, rerun {rerun.returncode}"}


def fault_slurm_rejected(base: Path) -> dict[str, object]:
    if shutil.which("sinfo") is None:
        return {"fault": "SLURM rejects the submission", "ok": None,
                "detail": "skipped: no SLURM here (scripts/slurm-up.sh)"}
    start = time.perf_counter()
    done = run(["generate", "qcd-dijet", "-n", "10", "-o", "s", "--executor", "slurm",
                "--cluster-config", str(write(base / "c.yaml", "queue: nosuchpart\n"))],
               base, timeout=300)
    seconds = time.perf_counter() - start
    ok = done.returncode == 2 and "rejected" in done.stderr and not (base / "s").exists()
    return {"fault": "SLURM rejects the submission (unknown partition)", "ok": ok,
            "detail": f"one-line error after {seconds:.0f} s, nothing written" if ok
            else done.stderr[-300:]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "reliability.json")
    args = parser.parse_args()
    start = time.perf_counter()
    bad = [bad_input_case(*case) for case in BAD_INPUTS]
    with tempfile.TemporaryDirectory() as tmp:
        pristine = _agent_run(Path(tmp))
        tamper = [tamper_case(name, damage, external, pristine)
                  for name, damage, external in TAMPER]
    faults = []
    for fault in (fault_generation_kill, fault_truncated_chunk, fault_slurm_rejected):
        with tempfile.TemporaryDirectory() as tmp:
            faults.append(fault(Path(tmp)))
    result = {
        "benchmark": "reliability", "commit": git_commit(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - start, 1),
        "summary": {
            "bad_inputs": len(bad), "bad_inputs_clear": sum(c["ok"] for c in bad),
            "tamper_cases": len(tamper),
            "tamper_caught_without_head": sum(c["caught_without_head"] for c in tamper),
            "tamper_caught_with_external_head": sum(c["caught_with_external_head"]
                                                    for c in tamper),
            "faults": len(faults), "faults_survived": sum(f["ok"] is True for f in faults),
            "faults_skipped": sum(f["ok"] is None for f in faults)},
        "bad_inputs": bad, "tamper": tamper, "faults": faults,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    s = result["summary"]
    print(f"\nReliability, commit {result['commit']}, {result['seconds']:.0f} s\n")
    print("| check | tried | passed |")
    print("|---|---|---|")
    print(f"| bad input -> one `error:` line, exit 2 (1 for a failed agent run), nothing "
          f"written | {s['bad_inputs']} | {s['bad_inputs_clear']} |")
    print(f"| tampered agent run caught by `agent verify` | {s['tamper_cases']} | "
          f"{s['tamper_caught_without_head']} without a kept head, "
          f"{s['tamper_caught_with_external_head']} with `--head` |")
    print(f"| faults survived | {s['faults']} | {s['faults_survived']} "
          f"({s['faults_skipped']} skipped) |")
    failures = [c for c in bad + tamper if not c["ok"]] + [f for f in faults
                                                          if f["ok"] is False]
    for case in failures:
        print(f"FAILED: {case}")
    for fault in faults:
        print(f"- {fault['fault']}: {fault['detail']}")


if __name__ == "__main__":
    main()
