#!/usr/bin/env python3
"""Folds a directory of Debezium JSON changelog files (as rtdw's filesystem
sink writes them) into the final table and prints it, ordered by the key.

Usage: fold_debezium.py DIRECTORY KEY_COLUMN
"""
import json
import os
import sys


def fold(directory, key):
    table = {}
    names = sorted(n for n in os.listdir(directory) if not n.startswith((".", "_")))
    for name in names:
        with open(os.path.join(directory, name), encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                event = json.loads(line)
                if event["op"] in ("c", "r", "u"):
                    row = event["after"]
                    table[row[key]] = row
                elif event["op"] == "d":
                    row = event["before"]
                    if table.get(row[key]) != row:
                        sys.exit(f"{name}:{number}: retraction of a row that is not in the table: {row}")
                    del table[row[key]]
    return table


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    table = fold(sys.argv[1], sys.argv[2])
    if not table:
        print("(empty)")
        return
    columns = list(next(iter(table.values())).keys())
    rows = [[str(row[c]) for c in columns] for _, row in sorted(table.items())]
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    print("  ".join(c.rjust(w) for c, w in zip(columns, widths)))
    for r in rows:
        print("  ".join(v.rjust(w) for v, w in zip(r, widths)))


if __name__ == "__main__":
    main()
