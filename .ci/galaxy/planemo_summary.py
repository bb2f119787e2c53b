"""Print `N passed, N failed` from planemo --test_output_json reports (one or more files).

A report that is missing or unreadable counts as one failure, so a planemo run that crashed
before writing its report cannot pass. Each failed test is named on a line of its own.
"""

import json
import sys


def main(paths: list[str]) -> int:
    passed = failed = 0
    for path in paths:
        try:
            with open(path) as fh:
                tests = json.load(fh)["tests"]
        except (OSError, ValueError, KeyError) as exc:
            print(f"{path}: no readable planemo report ({exc})")
            failed += 1
            continue
        for test in tests:
            status = test.get("data", {}).get("status")
            if status == "success":
                passed += 1
            else:
                failed += 1
                print(f"FAILED ({status}): {test.get('id')}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
