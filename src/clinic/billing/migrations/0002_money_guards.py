"""What the database guarantees about billing money, whatever the code does:

1. An issued invoice is immutable: its payer, number, dates, currency and totals cannot change,
   it cannot go back to draft, it cannot be deleted, and its lines cannot be added, changed or
   removed. When it leaves draft, its totals must equal the sums of its lines.
2. Allocations, credit notes and refunds are append-only and keep the running totals of the
   invoice (paid_total, credited_total) and payment (allocated_total, refunded_total) up to date
   in the same statement; the CHECK constraints on those tables then refuse any allocation beyond
   an invoice's balance or a payment's unallocated amount, even under concurrency.
   Allocations go only to issued, unpaid invoices, of the payment's own payer and currency.
3. An issued invoice's status follows from its amounts: void once fully credited, paid when its
   balance is zero, partially_paid when something is paid, issued otherwise.
4. References inside billing go through (organization_id, id), as in the other modules.
"""

from django.db import migrations

GUARDS = r"""
CREATE OR REPLACE FUNCTION billing_invoice_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    sums record;
BEGIN
    IF TG_OP = 'DELETE' THEN
        IF OLD.status <> 'draft' THEN
            RAISE EXCEPTION 'invoice % is issued and cannot be deleted', OLD.number
                USING ERRCODE = '23514', CONSTRAINT = 'invoice_issued_immutable';
        END IF;
        RETURN OLD;
    END IF;
    IF OLD.status <> 'draft' THEN
        IF NEW.status = 'draft'
           OR NEW.patient_id IS DISTINCT FROM OLD.patient_id
           OR NEW.bill_to_contact_id IS DISTINCT FROM OLD.bill_to_contact_id
           OR NEW.number IS DISTINCT FROM OLD.number
           OR NEW.currency IS DISTINCT FROM OLD.currency
           OR NEW.issue_date IS DISTINCT FROM OLD.issue_date
           OR NEW.due_date IS DISTINCT FROM OLD.due_date
           OR NEW.subtotal IS DISTINCT FROM OLD.subtotal
           OR NEW.discount_total IS DISTINCT FROM OLD.discount_total
           OR NEW.net_total IS DISTINCT FROM OLD.net_total
           OR NEW.tax_total IS DISTINCT FROM OLD.tax_total
           OR NEW.gross_total IS DISTINCT FROM OLD.gross_total
           OR NEW.organization_id IS DISTINCT FROM OLD.organization_id THEN
            RAISE EXCEPTION 'invoice % is issued and cannot be changed', OLD.number
                USING ERRCODE = '23514', CONSTRAINT = 'invoice_issued_immutable';
        END IF;
    ELSIF NEW.status <> 'draft' THEN
        SELECT coalesce(sum(subtotal), 0) AS subtotal, coalesce(sum(discount), 0) AS discount,
               coalesce(sum(net_amount), 0) AS net, coalesce(sum(tax_amount), 0) AS tax,
               coalesce(sum(gross_amount), 0) AS gross, count(*) AS n
          INTO sums FROM billing_invoiceline WHERE invoice_id = NEW.id;
        IF sums.n = 0 OR sums.subtotal <> NEW.subtotal OR sums.discount <> NEW.discount_total
           OR sums.net <> NEW.net_total OR sums.tax <> NEW.tax_total
           OR sums.gross <> NEW.gross_total THEN
            RAISE EXCEPTION 'invoice totals do not match its lines'
                USING ERRCODE = '23514', CONSTRAINT = 'invoice_totals_match_lines';
        END IF;
    END IF;
    IF NEW.status <> 'draft' THEN
        NEW.status := CASE
            WHEN NEW.status = 'void' THEN 'void'
            WHEN NEW.gross_total > 0 AND NEW.credited_total = NEW.gross_total THEN 'void'
            WHEN NEW.gross_total - NEW.paid_total - NEW.credited_total = 0 THEN 'paid'
            WHEN NEW.paid_total > 0 THEN 'partially_paid'
            ELSE 'issued'
        END;
    END IF;
    RETURN NEW;
END
$fn$;

CREATE TRIGGER billing_invoice_guard BEFORE UPDATE OR DELETE ON billing_invoice
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_guard();

CREATE OR REPLACE FUNCTION billing_invoice_line_guard() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    inv_status text;
BEGIN
    SELECT status INTO inv_status FROM billing_invoice
     WHERE id = (CASE WHEN TG_OP = 'DELETE' THEN OLD.invoice_id ELSE NEW.invoice_id END);
    -- Deleting a draft invoice cascades to its lines (the invoice row is gone by then).
    IF inv_status IS NOT NULL AND inv_status <> 'draft' THEN
        RAISE EXCEPTION 'the lines of an issued invoice cannot change'
            USING ERRCODE = '23514', CONSTRAINT = 'invoice_line_issued_immutable';
    END IF;
    IF TG_OP = 'UPDATE' AND NEW.invoice_id <> OLD.invoice_id THEN
        RAISE EXCEPTION 'a line cannot move to another invoice'
            USING ERRCODE = '23514', CONSTRAINT = 'invoice_line_issued_immutable';
    END IF;
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$fn$;

CREATE TRIGGER billing_invoice_line_guard BEFORE INSERT OR UPDATE OR DELETE ON billing_invoiceline
    FOR EACH ROW EXECUTE FUNCTION billing_invoice_line_guard();

CREATE OR REPLACE FUNCTION billing_append_only() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    RAISE EXCEPTION '% rows cannot be changed', TG_TABLE_NAME
        USING ERRCODE = '23514', CONSTRAINT = TG_TABLE_NAME || '_append_only';
END
$fn$;

CREATE TRIGGER billing_allocation_append_only BEFORE UPDATE ON billing_paymentallocation
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_credit_note_append_only BEFORE UPDATE OR DELETE ON billing_creditnote
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();
CREATE TRIGGER billing_refund_append_only BEFORE UPDATE OR DELETE ON billing_refund
    FOR EACH ROW EXECUTE FUNCTION billing_append_only();

CREATE OR REPLACE FUNCTION billing_allocation_apply() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
    inv record;
    pay record;
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT status, currency, patient_id, bill_to_contact_id INTO inv
          FROM billing_invoice WHERE id = NEW.invoice_id;
        SELECT currency, payer_patient_id, payer_contact_id INTO pay
          FROM billing_payment WHERE id = NEW.payment_id;
        IF inv.status NOT IN ('issued', 'partially_paid') THEN
            RAISE EXCEPTION 'payments go only to issued, unpaid invoices'
                USING ERRCODE = '23514', CONSTRAINT = 'allocation_invoice_open';
        END IF;
        IF inv.currency <> pay.currency
           OR (inv.bill_to_contact_id IS NULL AND pay.payer_patient_id IS DISTINCT FROM inv.patient_id)
           OR (inv.bill_to_contact_id IS NOT NULL
               AND pay.payer_contact_id IS DISTINCT FROM inv.bill_to_contact_id) THEN
            RAISE EXCEPTION 'a payment goes only to its payer''s invoices in its currency'
                USING ERRCODE = '23514', CONSTRAINT = 'allocation_same_payer';
        END IF;
        UPDATE billing_invoice SET paid_total = paid_total + NEW.amount WHERE id = NEW.invoice_id;
        UPDATE billing_payment SET allocated_total = allocated_total + NEW.amount
         WHERE id = NEW.payment_id;
    ELSE
        UPDATE billing_invoice SET paid_total = paid_total - OLD.amount WHERE id = OLD.invoice_id;
        UPDATE billing_payment SET allocated_total = allocated_total - OLD.amount
         WHERE id = OLD.payment_id;
    END IF;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER billing_allocation_apply AFTER INSERT OR DELETE ON billing_paymentallocation
    FOR EACH ROW EXECUTE FUNCTION billing_allocation_apply();

CREATE OR REPLACE FUNCTION billing_credit_note_apply() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM billing_invoice WHERE id = NEW.invoice_id AND status <> 'draft')
    THEN
        RAISE EXCEPTION 'credit notes correct issued invoices only'
            USING ERRCODE = '23514', CONSTRAINT = 'credit_note_invoice_issued';
    END IF;
    UPDATE billing_invoice
       SET credited_total = credited_total + NEW.amount,
           credited_tax = credited_tax + NEW.tax_amount
     WHERE id = NEW.invoice_id;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER billing_credit_note_apply AFTER INSERT ON billing_creditnote
    FOR EACH ROW EXECUTE FUNCTION billing_credit_note_apply();

CREATE OR REPLACE FUNCTION billing_refund_apply() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
    UPDATE billing_payment SET refunded_total = refunded_total + NEW.amount
     WHERE id = NEW.payment_id;
    RETURN NULL;
END
$fn$;

CREATE TRIGGER billing_refund_apply AFTER INSERT ON billing_refund
    FOR EACH ROW EXECUTE FUNCTION billing_refund_apply();
"""

UNGUARDS = r"""
DROP TRIGGER IF EXISTS billing_refund_apply ON billing_refund;
DROP TRIGGER IF EXISTS billing_credit_note_apply ON billing_creditnote;
DROP TRIGGER IF EXISTS billing_allocation_apply ON billing_paymentallocation;
DROP TRIGGER IF EXISTS billing_refund_append_only ON billing_refund;
DROP TRIGGER IF EXISTS billing_credit_note_append_only ON billing_creditnote;
DROP TRIGGER IF EXISTS billing_allocation_append_only ON billing_paymentallocation;
DROP TRIGGER IF EXISTS billing_invoice_line_guard ON billing_invoiceline;
DROP TRIGGER IF EXISTS billing_invoice_guard ON billing_invoice;
DROP FUNCTION IF EXISTS billing_refund_apply();
DROP FUNCTION IF EXISTS billing_credit_note_apply();
DROP FUNCTION IF EXISTS billing_allocation_apply();
DROP FUNCTION IF EXISTS billing_append_only();
DROP FUNCTION IF EXISTS billing_invoice_line_guard();
DROP FUNCTION IF EXISTS billing_invoice_guard();
"""

# (table, constraint, column, referenced table)
SAME_ORG_REFERENCES = [
    ("billing_invoice", "invoice_patient_same_org", "patient_id", "directory_patient"),
    ("billing_invoice", "invoice_contact_same_org", "bill_to_contact_id", "directory_contact"),
    ("billing_invoiceline", "invoice_line_invoice_same_org", "invoice_id", "billing_invoice"),
    ("billing_invoiceline", "invoice_line_service_same_org", "service_id", "directory_service"),
    ("billing_invoiceline", "invoice_line_tax_rate_same_org", "tax_rate_id", "billing_taxrate"),
    ("billing_invoiceappointment", "inv_appt_invoice_same_org", "invoice_id", "billing_invoice"),
    ("billing_invoiceappointment", "inv_appt_line_same_org", "line_id", "billing_invoiceline"),
    (
        "billing_invoiceappointment",
        "inv_appt_practitioner_same_org",
        "practitioner_id",
        "directory_practitioner",
    ),
    ("billing_payment", "payment_patient_same_org", "payer_patient_id", "directory_patient"),
    ("billing_payment", "payment_contact_same_org", "payer_contact_id", "directory_contact"),
    ("billing_payment", "payment_claim_same_org", "claim_id", "billing_claim"),
    ("billing_paymentallocation", "allocation_payment_same_org", "payment_id", "billing_payment"),
    ("billing_paymentallocation", "allocation_invoice_same_org", "invoice_id", "billing_invoice"),
    ("billing_creditnote", "credit_note_invoice_same_org", "invoice_id", "billing_invoice"),
    ("billing_refund", "refund_payment_same_org", "payment_id", "billing_payment"),
    ("billing_insurancepolicy", "policy_patient_same_org", "patient_id", "directory_patient"),
    ("billing_claim", "claim_policy_same_org", "policy_id", "billing_insurancepolicy"),
    ("billing_claim", "claim_invoice_same_org", "invoice_id", "billing_invoice"),
    ("billing_claimline", "claim_line_claim_same_org", "claim_id", "billing_claim"),
    (
        "billing_claimline",
        "claim_line_invoice_line_same_org",
        "invoice_line_id",
        "billing_invoiceline",
    ),
]


def _add(table, name, column, referenced):
    return (
        f"ALTER TABLE {table} ADD CONSTRAINT {name} FOREIGN KEY (organization_id, {column}) "
        f"REFERENCES {referenced} (organization_id, id) DEFERRABLE INITIALLY DEFERRED"
    )


def _drop(table, name, column, referenced):
    return f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}"


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_invoices_payments_claims")]

    operations = [
        migrations.RunSQL(GUARDS, UNGUARDS),
        *[migrations.RunSQL(_add(*ref), _drop(*ref)) for ref in SAME_ORG_REFERENCES],
    ]
