"""Two real series bundled with statsmodels, written to CSV files that ``rnnlab train --csv`` reads.

    pip install statsmodels                      # only for this script; rnnlab does not need it
    python examples/make_csv_examples.py --out runs/series

Writes, in --out:
    sunspots.csv   YEAR,SUNACTIVITY: the yearly mean sunspot numbers 1700-2008 (309 rows), as
                   statsmodels.datasets.sunspots ships them
    co2.csv        DATE,CO2: the Mauna Loa weekly CO2 concentrations (ppm, 1958-2001) of
                   statsmodels.datasets.co2, as monthly means (526 rows); the few months without any
                   measurement are filled by linear interpolation between their neighbours (rnnlab
                   refuses missing cells)
"""
from __future__ import annotations

import argparse
import csv
import os


def write(path: str, header: list, rows) -> int:
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        n = 0
        for row in rows:
            writer.writerow(row)
            n += 1
    os.replace(tmp, path)
    return n


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/series", help="folder for sunspots.csv and co2.csv")
    args = parser.parse_args(argv)
    try:
        from statsmodels.datasets import co2, sunspots
    except ImportError:
        raise SystemExit("this script needs statsmodels: pip install statsmodels")
    os.makedirs(args.out, exist_ok=True)
    sun = sunspots.load_pandas().data
    n = write(os.path.join(args.out, "sunspots.csv"), ["YEAR", "SUNACTIVITY"],
              ([int(y), f"{v:g}"] for y, v in zip(sun["YEAR"], sun["SUNACTIVITY"])))
    print(f"{os.path.join(args.out, 'sunspots.csv')}: {n} rows")
    monthly = co2.load_pandas().data["co2"].resample("MS").mean().interpolate("linear")
    n = write(os.path.join(args.out, "co2.csv"), ["DATE", "CO2"],
              ([d.strftime("%Y-%m"), f"{v:.4f}"] for d, v in monthly.items()))
    print(f"{os.path.join(args.out, 'co2.csv')}: {n} rows")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
