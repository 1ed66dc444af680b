"""CI: the verdicts of the wheel-installed gate say what they must (correct green, broken wrong)."""

import json
import sys

correct, broken = (json.load(open(path)) for path in sys.argv[1:3])
status = int(sys.argv[3])
failed = {k: v for k, v in correct["totals"].items() if k in ("wrong", "fragile", "contract", "error") and v}
assert correct["exitstatus"] == 0 and not failed and correct["totals"]["passed"] > 0, correct["totals"]
assert correct["profile"] == "favor-gate" and correct["skipped_by_capability"], correct
assert status == 1 and broken["totals"]["wrong"] > 0, (status, broken["totals"])
print(f"correct: {correct['totals']} in {correct['duration_s']} s")
print(f"broken: {broken['totals']} in {broken['duration_s']} s")
