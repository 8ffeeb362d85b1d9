"""Computes schedule plans with Apache Airflow 2.10 itself, for Updraft's
parity test (engine/tests/airflow_parity.rs reads the JSON this writes).

    python3 -m venv /tmp/af && /tmp/af/bin/pip install apache-airflow==2.10.5
    AIRFLOW_HOME=/tmp/afhome /tmp/af/bin/python tools/airflow-parity/generate.py \
        > engine/tests/data/airflow_parity.json

Not run in CI (it needs Airflow); the JSON it wrote is committed.
"""

import datetime as dt
import json
import sys
from unittest import mock

import pendulum
from airflow.timetables.base import DataInterval, TimeRestriction
from airflow.timetables.interval import CronDataIntervalTimetable
from airflow.utils.timezone import coerce_datetime

PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

# Zones with DST in both hemispheres, a 30-minute DST (Lord Howe), a
# 45-minute offset (Chatham), and none (UTC, Bangkok, Kolkata).
TRANSITIONS = {
    "UTC": ["2024-03-10", "2024-11-03"],
    "Asia/Bangkok": ["2024-03-10"],
    "Asia/Kolkata": ["2024-03-10"],
    "America/New_York": ["2024-03-10", "2024-11-03"],
    "Europe/Berlin": ["2024-03-31", "2024-10-27"],
    "Australia/Sydney": ["2024-04-07", "2024-10-06"],
    "Australia/Lord_Howe": ["2024-04-07", "2024-10-06"],
    "Pacific/Chatham": ["2024-04-07", "2024-09-29"],
    "America/Sao_Paulo": ["2024-03-10"],
}

# (schedule, days before, days after the transition)
SCHEDULES = [
    ("0 2 * * *", 3, 3),
    ("30 2 * * *", 3, 3),
    ("30 1 * * *", 3, 3),
    ("0 3 * * *", 3, 3),
    ("45 2 * * *", 2, 2),
    ("0 * * * *", 1, 1),
    ("*/15 * * * *", 0.5, 0.5),
    ("30 */2 * * *", 1, 1),
    ("0 0,12 * * *", 3, 3),
    ("0 1-3 * * *", 2, 2),
    ("0 9 * * 1-5", 10, 10),
    ("0 6 * * MON,WED,FRI", 10, 10),
    ("0 0 13 * 5", 60, 60),
    ("0 0 31 * *", 200, 200),
    ("0 0 L * *", 100, 100),
    ("0 0 * * 5#2", 100, 100),
    ("0 0 29 2 *", 800, 1600),
    ("5/20 8-17/3 * * *", 2, 2),
    ("@hourly", 1, 1),
    ("@daily", 4, 4),
    ("@weekly", 20, 20),
    ("@monthly", 100, 100),
    ("@quarterly", 400, 400),
    ("@yearly", 800, 800),
]


def iso(d):
    return coerce_datetime(d).in_timezone("UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def plan(tt, earliest, latest):
    restriction = TimeRestriction(earliest, latest, catchup=True)
    out = []
    info = tt.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    while info is not None and len(out) < 400:
        out.append([iso(info.data_interval.start), iso(info.data_interval.end)])
        info = tt.next_dagrun_info(last_automated_data_interval=info.data_interval, restriction=restriction)
    return out


def main():
    plans, latest_runs, manual = [], [], []
    for tz, days in TRANSITIONS.items():
        zone = pendulum.timezone(tz)
        for schedule, before, after in SCHEDULES:
            tt = CronDataIntervalTimetable(PRESETS.get(schedule, schedule), zone)
            for day in days:
                mid = pendulum.parse(day, tz=zone).in_timezone("UTC")
                # Airflow keeps start and end dates, and "now", in UTC.
                earliest = mid - dt.timedelta(days=before)
                latest = mid + dt.timedelta(days=after)
                plans.append({
                    "schedule": schedule, "timezone": tz,
                    "earliest": iso(earliest), "latest": iso(latest),
                    "intervals": plan(tt, earliest, latest),
                })
                # Without catchup, at several moments around the transition.
                for hours in (-25, -1.5, 0, 0.75, 2.5, 26):
                    now = mid + dt.timedelta(hours=hours)
                    start = mid - dt.timedelta(days=max(before, 1) * 2)
                    try:
                        with mock.patch("airflow.timetables.interval.utcnow", return_value=now):
                            info = tt.next_dagrun_info(
                                last_automated_data_interval=None,
                                restriction=TimeRestriction(start, None, catchup=False),
                            )
                    except AssertionError as e:
                        # Airflow's own consistency check fails here (seen
                        # around DST changes); there is nothing to match.
                        print(f"airflow raised for {schedule} {tz} now={iso(now)}: {e}", file=sys.stderr)
                        continue
                    latest_runs.append({
                        "schedule": schedule, "timezone": tz, "start_date": iso(start), "now": iso(now),
                        "interval": [iso(info.data_interval.start), iso(info.data_interval.end)],
                    })
                    run_after = now
                    i = tt.infer_manual_data_interval(run_after=run_after)
                    manual.append({
                        "schedule": schedule, "timezone": tz, "run_after": iso(run_after),
                        "interval": [iso(i.start), iso(i.end)],
                    })
    # One case per line: small, and diffs stay readable.
    out = sys.stdout
    out.write("{\n")
    sections = [("plans", plans), ("catchup_off_first_run", latest_runs), ("manual", manual)]
    for n, (name, cases) in enumerate(sections):
        out.write(f'"{name}": [\n')
        out.write(",\n".join(json.dumps(c, separators=(",", ":")) for c in cases))
        out.write("\n]" + ("," if n + 1 < len(sections) else "") + "\n")
    out.write("}\n")


if __name__ == "__main__":
    main()
