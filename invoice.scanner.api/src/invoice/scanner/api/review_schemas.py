"""Request and response schemas of the review workflow, users and stats."""
from __future__ import annotations

from datetime import datetime, timezone

import marshmallow as ma

from invoice.scanner.processing.fields import DOCUMENT_TYPE, FIELD_NAMES, LINE_ITEM_FIELDS
from invoice.scanner.processing.status import REVIEW_STATUSES

from invoice.scanner.api.roles import PERMISSIONS, ROLES
from invoice.scanner.api.schemas import DocumentRowSchema, ErrorBodySchema, StrictBoolean, UtcDateTime


class ClaimInfoSchema(ma.Schema):
    user_id = ma.fields.UUID()
    email = ma.fields.String(allow_none=True)
    claimed_at = UtcDateTime()
    expires_at = UtcDateTime()


class ReviewQuerySchema(ma.Schema):
    status = ma.fields.String(validate=ma.validate.OneOf(sorted(s.value for s in REVIEW_STATUSES)))
    claimed = ma.fields.String(load_default="any", validate=ma.validate.OneOf(["me", "others", "none", "any"]))
    vendor = ma.fields.String(validate=ma.validate.Length(min=1, max=200),
                              metadata={"description": "Part of the vendor name (case-insensitive)"})
    duplicate = ma.fields.Boolean(metadata={"description": "Only possible duplicates (true) or none of them (false)"})
    limit = ma.fields.Integer(load_default=50, validate=ma.validate.Range(min=1, max=200))
    cursor = ma.fields.String(metadata={"description": "`next_cursor` of the previous page"})


class ReviewItemSchema(DocumentRowSchema):
    """A `QueueItem` as one row of the review queue: the list's row plus what a reviewer sorts by."""

    deadline = UtcDateTime(metadata={"description": "The earlier of the due date and upload + REVIEW_SLA_S"})
    age_s = ma.fields.Integer(metadata={"description": "Seconds since the document reached this status"})
    due_date = ma.fields.String(allow_none=True)
    predicted_accuracy = ma.fields.Float(allow_none=True)
    reasons = ma.fields.List(ma.fields.String())
    duplicate_of = ma.fields.UUID(allow_none=True)
    iban_changed = ma.fields.Boolean()
    claim = ma.fields.Nested(ClaimInfoSchema, allow_none=True)
    version = ma.fields.Integer()

    FLAT = (*DocumentRowSchema.FLAT, "due_date")

    def get_attribute(self, obj, attr, default):
        if attr == "age_s":
            return int((datetime.now(timezone.utc) - obj.updated_at).total_seconds())
        return super().get_attribute(obj, attr, default)


class ReviewQueueSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ReviewItemSchema))
    total = ma.fields.Integer(metadata={"description": "Documents matching the filter"})
    limit = ma.fields.Integer()
    next_cursor = ma.fields.String(allow_none=True)


class ClaimSchema(ClaimInfoSchema):
    document_id = ma.fields.UUID()
    version = ma.fields.Integer()


class ReleaseSchema(ma.Schema):
    document_id = ma.fields.UUID()
    released = ma.fields.Boolean()


class ClaimConflictSchema(ErrorBodySchema):
    claimed_by = ma.fields.Dict()
    expires_at = ma.fields.String()


class CorrectedLineItemSchema(ma.Schema):
    class Meta:
        unknown = ma.RAISE

    description = ma.fields.String(allow_none=True)
    quantity = ma.fields.Raw(allow_none=True, metadata={"description": "Number or printed number"})
    unit_price = ma.fields.Raw(allow_none=True)
    amount = ma.fields.Raw(allow_none=True)
    tax_rate = ma.fields.Raw(allow_none=True, metadata={"description": "Percent: 19, 8.875 or '7%'"})
    position = ma.fields.Integer(metadata={"description": "Ignored: items are renumbered in list order"})


assert set(CorrectedLineItemSchema._declared_fields) - {"position"} == set(LINE_ITEM_FIELDS)


class CorrectionSchema(ma.Schema):
    fields = ma.fields.Dict(
        keys=ma.fields.String(validate=ma.validate.OneOf((*FIELD_NAMES, DOCUMENT_TYPE))),
        values=ma.fields.Raw(allow_none=True),
        metadata={"description": "Field name -> value as a person reads it (null: the invoice has none); "
                                 "`document_type` takes invoice, credit_note or receipt"})
    line_items = ma.fields.List(ma.fields.Nested(CorrectedLineItemSchema),
                                metadata={"description": "Replaces every line item"})

    @ma.validates_schema
    def something_to_correct(self, data, **kwargs):
        if not data.get("fields") and "line_items" not in data:
            raise ma.ValidationError("give `fields`, `line_items` or both", "fields")


class ApproveSchema(ma.Schema):
    comment = ma.fields.String(validate=ma.validate.Length(max=1000))
    acknowledge = ma.fields.List(ma.fields.String(validate=ma.validate.OneOf(["iban_changed", "possible_duplicate"])),
                                 load_default=list,
                                 metadata={"description": "Signals that block approval, looked at and accepted"})


class RejectSchema(ma.Schema):
    reason = ma.fields.String(required=True, validate=ma.validate.Length(min=1, max=1000))


class ApprovalBlockedSchema(ErrorBodySchema):
    blocking = ma.fields.List(ma.fields.String())


class ActorSchema(ma.Schema):
    user_id = ma.fields.UUID()
    email = ma.fields.String(allow_none=True)
    role = ma.fields.String(allow_none=True)


class AuditEntrySchema(ma.Schema):
    id = ma.fields.Integer()
    at = UtcDateTime()
    action = ma.fields.String(metadata={"enum": ["claim", "release", "correction", "approve", "reject", "retry"]})
    actor = ma.fields.Nested(ActorSchema, allow_none=True)
    field = ma.fields.String(allow_none=True)
    before = ma.fields.Raw(allow_none=True)
    after = ma.fields.Raw(allow_none=True)
    detail = ma.fields.Dict(allow_none=True)


class AuditListSchema(ma.Schema):
    document_id = ma.fields.UUID()
    entries = ma.fields.List(ma.fields.Nested(AuditEntrySchema))


# -- users ------------------------------------------------------------------------------------


class MeSchema(ma.Schema):
    user_id = ma.fields.UUID()
    email = ma.fields.String()
    company_id = ma.fields.UUID()
    role = ma.fields.String(metadata={"enum": list(ROLES)})
    permissions = ma.fields.List(ma.fields.String(metadata={"enum": list(PERMISSIONS)}))
    token_scopes = ma.fields.List(ma.fields.String(), allow_none=True)


class UserSchema(ma.Schema):
    id = ma.fields.UUID()
    email = ma.fields.String()
    role = ma.fields.String(metadata={"enum": list(ROLES)})
    is_active = ma.fields.Boolean()
    created_at = UtcDateTime()


class UserListSchema(ma.Schema):
    users = ma.fields.List(ma.fields.Nested(UserSchema))


class NewUserSchema(ma.Schema):
    email = ma.fields.Email(required=True, validate=ma.validate.Length(max=320))
    password = ma.fields.String(required=True, load_only=True, validate=ma.validate.Length(min=8, max=1024))
    role = ma.fields.String(required=True, validate=ma.validate.OneOf(ROLES))


class UserUpdateSchema(ma.Schema):
    role = ma.fields.String(validate=ma.validate.OneOf(ROLES))
    is_active = StrictBoolean()

    @ma.validates_schema
    def something_to_change(self, data, **kwargs):
        if not data:
            raise ma.ValidationError("give `role`, `is_active` or both", "role")


# -- vendors ----------------------------------------------------------------------------------


class VendorSchema(ma.Schema):
    id = ma.fields.UUID()
    name = ma.fields.String()
    vat_id = ma.fields.String(allow_none=True)
    iban = ma.fields.String(allow_none=True)
    currency = ma.fields.String(allow_none=True)
    confirmations = ma.fields.Integer()
    iban_confirmations = ma.fields.Integer()
    last_confirmed_at = UtcDateTime(allow_none=True)
    layout = ma.fields.Dict(metadata={"description": "field -> {label, page, bbox} where it was confirmed"})


class VendorSummarySchema(VendorSchema):
    class Meta:
        exclude = ("layout",)


class VendorListSchema(ma.Schema):
    vendors = ma.fields.List(ma.fields.Nested(VendorSummarySchema))


# -- stats ------------------------------------------------------------------------------------


class StatsQuerySchema(ma.Schema):
    from_ = ma.fields.DateTime(data_key="from", metadata={"description": "Start (ISO date or date-time, UTC); "
                                                                         "default 30 days before `to`"})
    to = ma.fields.DateTime(metadata={"description": "End, exclusive (default now)"})


class StageStatsSchema(ma.Schema):
    count = ma.fields.Integer()
    median_s = ma.fields.Float()
    p95_s = ma.fields.Float()


class ReviewerStatsSchema(ma.Schema):
    user_id = ma.fields.UUID()
    email = ma.fields.String(allow_none=True)
    decisions = ma.fields.Integer()
    approved = ma.fields.Integer()
    rejected = ma.fields.Integer()
    corrections = ma.fields.Integer()
    median_decision_s = ma.fields.Float(allow_none=True, metadata={
        "description": "Median seconds from the reviewer's first claim of a document to the decision"})


class StatsSchema(ma.Schema):
    period = ma.fields.Dict()
    documents = ma.fields.Integer()
    by_status = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer())
    straight_through_rate = ma.fields.Float(allow_none=True, metadata={
        "description": "Approved automatically, untouched by a person / documents that finished"})
    stages = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Nested(StageStatsSchema))
    review = ma.fields.Dict()
    reviewers = ma.fields.List(ma.fields.Nested(ReviewerStatsSchema))
