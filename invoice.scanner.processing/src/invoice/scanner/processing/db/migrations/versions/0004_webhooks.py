"""Webhooks (subscriptions, an outbox of events, deliveries and their attempts) and the
index approved-document exports read by.

Events are written by a trigger on `documents`, in the transaction that changes the status,
so no terminal status or review decision is ever lost between the commit and the broker
(the outbox pattern); the `webhooks` Celery queue delivers them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Statuses that fire an event: the pipeline's terminal ones and a person's decisions.
_EVENT_STATUSES = (
    "approved", "manual_review", "rejected",
    "preprocess_error", "ocr_error", "predict_error", "extraction_error", "evaluation_error",
)
_ERROR_STATUSES = ("preprocess_error", "ocr_error", "predict_error", "extraction_error", "evaluation_error")
# A document leaving one of these for approved/rejected was decided by a person.
_REVIEW_STATUSES = ("manual_review", *_ERROR_STATUSES)


def _sql_list(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE TABLE webhook_subscriptions (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            url text NOT NULL,
            -- The HMAC key: needed in clear to sign, so it is shown once at creation and never
            -- returned or logged afterwards.
            secret text NOT NULL,
            events text[] NOT NULL,
            description text,
            created_by uuid REFERENCES users(id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        );
        CREATE INDEX webhook_subscriptions_company_idx ON webhook_subscriptions (company_id)
            WHERE deleted_at IS NULL;

        CREATE TABLE webhook_events (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            document_id uuid REFERENCES documents(id) ON DELETE SET NULL,
            type text NOT NULL,
            payload jsonb NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );

        CREATE TABLE webhook_deliveries (
            id uuid PRIMARY KEY,
            company_id uuid NOT NULL REFERENCES companies(id) ON DELETE CASCADE,
            subscription_id uuid NOT NULL REFERENCES webhook_subscriptions(id) ON DELETE CASCADE,
            event_id uuid NOT NULL REFERENCES webhook_events(id) ON DELETE CASCADE,
            -- pending: to send at next_attempt_at | delivered | failed: gave up after the last attempt
            state text NOT NULL DEFAULT 'pending'
                CONSTRAINT webhook_deliveries_state_check CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz NOT NULL DEFAULT now(),
            -- Set by the relay when it hands the delivery to a worker; a lost worker's lease runs out
            -- and the relay sends it again.
            lease_until timestamptz,
            lease_token uuid,
            last_status_code integer,
            last_error text,
            delivered_at timestamptz,
            redelivery_of uuid REFERENCES webhook_deliveries(id) ON DELETE SET NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
        CREATE INDEX webhook_deliveries_subscription_idx ON webhook_deliveries (subscription_id, created_at DESC, id);

        CREATE TABLE webhook_delivery_attempts (
            id bigserial PRIMARY KEY,
            delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
            attempt integer NOT NULL,
            started_at timestamptz NOT NULL,
            duration_ms integer NOT NULL,
            status_code integer,
            error text,
            response_excerpt text
        );
        CREATE INDEX webhook_delivery_attempts_delivery_idx ON webhook_delivery_attempts (delivery_id, id);

        -- One event, and one delivery per subscription of the company that wants its type
        -- ('*' = every type). Nothing is written when no subscription wants it.
        CREATE FUNCTION webhook_enqueue(p_company uuid, p_document uuid, p_type text, p_data jsonb)
            RETURNS uuid LANGUAGE plpgsql AS $$
        DECLARE
            event_id uuid;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM webhook_subscriptions
                           WHERE company_id = p_company AND deleted_at IS NULL
                             AND (p_type = ANY(events) OR '*' = ANY(events))) THEN
                RETURN NULL;
            END IF;
            event_id := gen_random_uuid();
            INSERT INTO webhook_events (id, company_id, document_id, type, payload)
            VALUES (event_id, p_company, p_document, p_type, jsonb_build_object(
                'id', event_id,
                'type', p_type,
                'created_at', to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'company_id', p_company,
                'data', p_data));
            INSERT INTO webhook_deliveries (id, company_id, subscription_id, event_id)
            SELECT gen_random_uuid(), p_company, s.id, event_id FROM webhook_subscriptions s
            WHERE s.company_id = p_company AND s.deleted_at IS NULL
              AND (p_type = ANY(s.events) OR '*' = ANY(s.events));
            RETURN event_id;
        END $$;

        -- The outbox writer: a document reaching a terminal status or a person's decision.
        -- Columns of later migrations (decided_by, decision_reason) are read through to_jsonb,
        -- so this function does not depend on them existing.
        CREATE FUNCTION documents_webhook_event() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            doc jsonb := to_jsonb(NEW);
            previous text := CASE WHEN TG_OP = 'UPDATE' THEN OLD.status END;
            by_person boolean := NEW.status = 'rejected' OR (NEW.status = 'approved' AND (
                previous IN ({_sql_list(_REVIEW_STATUSES)})
                OR (doc->>'decided_at' IS NOT NULL
                    AND (TG_OP = 'INSERT' OR to_jsonb(OLD)->>'decided_at' IS DISTINCT FROM doc->>'decided_at'))));
            event_type text := CASE WHEN NEW.status IN ({_sql_list(_ERROR_STATUSES)}) THEN 'document.failed'
                                    ELSE 'document.' || NEW.status END;
        BEGIN
            PERFORM webhook_enqueue(NEW.company_id, NEW.id, event_type, jsonb_build_object(
                'document_id', NEW.id,
                'status', NEW.status,
                'previous_status', previous,
                'source', CASE WHEN by_person THEN 'review' ELSE 'pipeline' END,
                'decided_by', CASE WHEN by_person THEN doc->'decided_by' END,
                'reason', CASE WHEN by_person THEN doc->'decision_reason' END,
                'error', NEW.error,
                'quality_score', NEW.quality_score,
                'fields', (SELECT coalesce(jsonb_object_agg(f.name, f.value), '{{}}'::jsonb)
                           FROM extracted_fields f WHERE f.document_id = NEW.id)));
            RETURN NULL;
        END $$;
        CREATE TRIGGER documents_webhook_status AFTER UPDATE OF status ON documents
            FOR EACH ROW WHEN (NEW.status IS DISTINCT FROM OLD.status
                               AND NEW.status IN ({_sql_list(_EVENT_STATUSES)}))
            EXECUTE FUNCTION documents_webhook_event();
        CREATE TRIGGER documents_webhook_insert AFTER INSERT ON documents
            FOR EACH ROW WHEN (NEW.status IN ({_sql_list(_EVENT_STATUSES)}))
            EXECUTE FUNCTION documents_webhook_event();

        -- Exports read a company's approved documents in completion order, in batches.
        CREATE INDEX documents_company_approved_idx ON documents (company_id, completed_at, id)
            WHERE status = 'approved';
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP INDEX documents_company_approved_idx;
        DROP TRIGGER documents_webhook_insert ON documents;
        DROP TRIGGER documents_webhook_status ON documents;
        DROP FUNCTION documents_webhook_event();
        DROP FUNCTION webhook_enqueue(uuid, uuid, text, jsonb);
        DROP TABLE webhook_delivery_attempts; DROP TABLE webhook_deliveries; DROP TABLE webhook_events;
        DROP TABLE webhook_subscriptions;
        """
    )
