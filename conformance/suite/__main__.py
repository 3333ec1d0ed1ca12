"""Entry point: `python -m suite TARGET.json [TARGET.json ...] [--only TEXT]`.

Each TARGET.json is the document `w365 sim serve -o json` printed, plus `label` and, for
HTTPS, `caFile` (the CA certificate the simulator wrote). Prints one line per check and a final
`N passed, M failed` line; exits 1 on any failure.
"""

import argparse
import asyncio
import json
import sys

from . import checks_directory, checks_protocol, checks_windows365  # noqa: F401  (registers checks)
from .harness import CHECKS, Target, run_checks


def load(path: str) -> Target:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    return Target(
        label=doc["label"],
        base_url=doc["baseUrl"].rstrip("/"),
        tenant_id=doc["tenantId"],
        client_id=doc["clientId"],
        client_secret=doc["clientSecret"],
        ca_file=doc.get("caFile"),
        admin_key=doc["adminKey"],
        admin_key_header=doc.get("adminKeyHeader", "X-W365-Sim-Key"),
    )


async def main() -> int:
    parser = argparse.ArgumentParser(prog="suite")
    parser.add_argument("targets", nargs="+")
    parser.add_argument("--only", default=None, help="run the checks whose name contains TEXT")
    parser.add_argument(
        "--extra-counts", default=None, help="a file with 'PASSED FAILED' from the JavaScript checks"
    )
    args = parser.parse_args()
    passed = failed = 0
    if args.extra_counts:
        with open(args.extra_counts, encoding="utf-8") as f:
            p, f_ = (int(n) for n in f.read().split())
        passed += p
        failed += f_
    for path in args.targets:
        target = load(path)
        print(f"== {len(CHECKS)} checks against {target.base_url} ({target.label})", flush=True)
        p, f = await run_checks(target, args.only)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
