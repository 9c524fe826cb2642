"""Waitlist matching (issue 13): 2,000 active entries against a week of 50 practitioners' freed
slots — time and queries per run, beside a baseline at a tenth of the entries in the same run.

    .venv/bin/python -m bench waitlist_matching [--entries 2000] [--practitioners 50] [--runs 5]

Two runs are measured, each in a transaction rolled back afterwards (so every run starts from
the same state):
- "freed": every freed slot of the week (one per practitioner and working day, as a
  cancellation would free it) goes through `slot_fill` — the entries it could serve, ranked,
  and an offer (hold + message) to the best one;
- "job": the periodic job `entries_match_run` over all active entries — one slot search per
  entry and an offer for its best slot.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench waitlist_matching")
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--practitioners", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=int, default=0, help="entries (default entries / 10)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.baseline = args.baseline or max(1, args.entries // 10)

    from clinic import cli

    with cli.Database():
        from bench import _scheduling_data as data

        data.django_ready()
        return _run(args, data)


TIMES = ["morning", "afternoon", "evening"]


class _Rollback(Exception):
    pass


class _Counter:
    """Counts SQL statements (transaction control left out) with an execute wrapper: a run makes
    tens of thousands, more than Django's query log keeps. Statements and time inside
    `offer_create` (hold, offer row, audit, messages) are counted apart from the matching."""

    def __init__(self):
        self.statements = self.in_offers = 0
        self.offer_seconds = 0.0
        self.offering = False

    def __call__(self, execute, sql, params, many, context):
        if sql not in ("BEGIN", "COMMIT", "ROLLBACK") and "SAVEPOINT" not in sql:
            self.statements += 1
            self.in_offers += self.offering
        return execute(sql, params, many, context)


def _offers_counted(services, counter: _Counter):
    """services.offer_create wrapped so that its statements and time are told apart."""
    original = services.offer_create

    def offer_create(**kwargs):
        if counter.offering:  # nested: counted by the outer call
            return original(**kwargs)
        counter.offering, started = True, time.perf_counter()
        try:
            return original(**kwargs)
        finally:
            counter.offering = False
            counter.offer_seconds += time.perf_counter() - started

    services.offer_create = offer_create
    return original


def _measured(body, counter: _Counter) -> dict:
    """Time, statements and result of a run, in a transaction rolled back afterwards."""
    from django.db import connection, transaction

    out = {}
    try:
        with transaction.atomic():
            # body() prepares (same transaction, not measured) and returns the measured work
            work = body()
            counter.__init__()
            with connection.execute_wrapper(counter):
                started = time.perf_counter()
                out["result"] = work()
                out["ms"] = (time.perf_counter() - started) * 1000
            out["queries"] = counter.statements
            out["offer_queries"] = counter.in_offers
            out["offer_ms"] = counter.offer_seconds * 1000
            raise _Rollback
    except _Rollback:
        pass
    return out


def _run(args, data) -> int:
    from django.utils import timezone

    from clinic.core.tenancy import tenant_context
    from clinic.directory.models import Patient, PractitionerService
    from clinic.scheduling.generator import appointments_generate
    from clinic.scheduling.models import AvailabilityRule
    from clinic.waitlist import services
    from clinic.waitlist.models import EntryStatus, Urgency, WaitlistEntry, WaitlistOffer

    patients = max(args.entries, 500)
    org = data.organization(
        appointments=0,
        practitioners=args.practitioners,
        patients=patients,
        seed=args.seed,
        slug=f"bench-waitlist-{args.practitioners}-{patients}",
    )
    # availability only (Monday to Friday, 08:00-18:00): the week's slots are all free, as
    # right after the cancellations that freed them
    appointments_generate(organization_id=org.id, appointments=0, seed=args.seed)
    rng = random.Random(args.seed)
    now = timezone.now()
    with tenant_context(org.id):
        WaitlistOffer.objects.all().delete()
        WaitlistEntry.objects.all().delete()
        where = dict(
            AvailabilityRule.objects.values_list("practitioner_id", "location_id").distinct()
        )
        zones = dict(
            AvailabilityRule.objects.values_list("location_id", "location__time_zone").distinct()
        )
        links: dict = {}
        for practitioner_id, service_id, minutes in PractitionerService.objects.filter(
            service__is_active=True
        ).values_list("practitioner_id", "service_id", "service__duration_minutes"):
            if minutes <= 60:
                links.setdefault(practitioner_id, []).append(service_id)
        practitioners = sorted((p for p in where if p in links), key=str)
        patient_ids = list(Patient.objects.order_by("id").values_list("id", flat=True)[:patients])
        # the week: next Monday to Friday in the first location's zone
        zone = ZoneInfo(zones[where[practitioners[0]]] or "UTC")
        today = now.astimezone(zone).date()
        monday = today + timedelta(days=7 - today.weekday())
        urgencies = list(Urgency.values)
        entries = []
        for i in range(args.entries):
            practitioner_id = rng.choice(practitioners)
            entry = WaitlistEntry(
                organization_id=org.id,
                patient_id=patient_ids[i % len(patient_ids)],
                service_id=rng.choice(links[practitioner_id]),
                # a third accept anyone, the others name their practitioner
                practitioner_ids=[] if i % 3 == 0 else [practitioner_id],
                earliest_date=monday,
                latest_date=monday + timedelta(days=4),
                preferred_days=rng.sample(range(5), k=rng.randint(0, 3)),
                preferred_times=rng.sample(TIMES, k=rng.randint(0, 2)),
                urgency=rng.choice(urgencies),
                status=EntryStatus.ACTIVE,
            )
            entry.created_at = now - timedelta(days=rng.randint(0, 120))
            services.entry_score_refresh(entry, save=False)
            entries.append(entry)
        WaitlistEntry.objects.bulk_create(entries, batch_size=1000)
        WaitlistEntry.objects.filter(id__in=[e.id for e in entries]).update(
            created_at=now - timedelta(days=30)
        )
        ranked = list(
            WaitlistEntry.objects.order_by("-score", "created_at").values_list("id", flat=True)
        )
        # one freed slot per practitioner and working day, at a time that varies with both
        freed = []
        for p_index, practitioner_id in enumerate(practitioners[: args.practitioners]):
            location_id = where[practitioner_id]
            local = ZoneInfo(zones[location_id] or "UTC")
            for day in range(5):
                hour = 9 + (p_index + day) % 8
                start = datetime.combine(
                    monday + timedelta(days=day), datetime.min.time(), tzinfo=local
                ) + timedelta(hours=hour)
                freed.append((practitioner_id, location_id, start, start + timedelta(hours=1)))

        def keep_only(count: int) -> None:
            """Only the `count` best entries stay active (inside the rolled-back transaction)."""
            if count < len(ranked):
                WaitlistEntry.objects.filter(id__in=ranked[count:]).update(
                    status=EntryStatus.EXPIRED
                )

        def freed_run(count: int):
            def body():
                keep_only(count)

                def measured():
                    offers = 0
                    for practitioner_id, location_id, start, end in freed:
                        offers += bool(
                            services.slot_fill(
                                practitioner_id=practitioner_id,
                                location_id=location_id,
                                start=start,
                                end=end,
                                freed_at=now,
                            )
                        )
                    return offers

                return measured

            return body

        def job_run(count: int):
            def body():
                keep_only(count)
                return lambda: services.entries_match_run(limit=count)

            return body

        results: dict[str, list] = {}
        counter = _Counter()
        _offers_counted(services, counter)
        _measured(freed_run(args.baseline), counter)  # warm-up
        for _ in range(args.runs):
            for name, body in (
                ("freed", freed_run(args.entries)),
                ("freed_base", freed_run(args.baseline)),
                ("job", job_run(args.entries)),
                ("job_base", job_run(args.baseline)),
            ):
                results.setdefault(name, []).append(_measured(body, counter))

    def line(name: str, count: int, unit: str, units: int) -> str:
        runs = results[name]
        ms = [r["ms"] for r in runs]
        queries = [r["queries"] for r in runs]
        offer_queries = [r["offer_queries"] for r in runs]
        matching_ms = [r["ms"] - r["offer_ms"] for r in runs]
        made = [r["result"] for r in runs]
        matching_queries = [q - o for q, o in zip(queries, offer_queries, strict=True)]
        return (
            f"  {count:>6,} entries: p50 {statistics.median(ms):.0f} ms   "
            f"p95 {data.percentile(ms, 95):.0f} ms   ({statistics.median(ms) / units:.1f} ms per "
            f"{unit}); queries per run {max(queries)} ({max(queries) / units:.1f} per {unit}); "
            f"offers made {max(made)}\n"
            f"          matching alone (offers left out): p50 "
            f"{statistics.median(matching_ms):.0f} ms, {max(matching_queries)} queries "
            f"({max(matching_queries) / units:.1f} per {unit}); offers: "
            f"{max(offer_queries)} queries ({max(offer_queries) / max(1, max(made)):.1f} per offer)"
        )

    def ratio(name: str) -> float:
        return statistics.median(r["ms"] for r in results[name]) / statistics.median(
            r["ms"] for r in results[f"{name}_base"]
        )

    print()
    print(
        f"Waitlist matching, {len(practitioners[: args.practitioners])} practitioners, week of "
        f"{monday}, {args.runs} runs each (rolled back), load average "
        f"{open('/proc/loadavg').read().split()[0]}"
    )
    print(f"Freed slots ({len(freed)}: one per practitioner and day) through slot_fill:")
    print(line("freed", args.entries, "slot", len(freed)))
    print(line("freed_base", args.baseline, "slot", len(freed)))
    print(f"  ratio {args.entries} / {args.baseline} entries: {ratio('freed'):.2f}")
    print("Periodic job (entries_match_run over every active entry):")
    print(line("job", args.entries, "entry", args.entries))
    print(line("job_base", args.baseline, "entry", args.baseline))
    print(f"  ratio {args.entries} / {args.baseline} entries: {ratio('job'):.2f}")
    return 0
