-- Webhook deliveries already stored, by receiver and the sender's delivery
-- id (GitHub's X-GitHub-Delivery, GitLab's Idempotency-Key, PagerDuty's
-- event id): a redelivery is recognised and changes nothing. Written in the
-- same transaction as the delivery's events.
CREATE TABLE webhook_deliveries (
    receiver VARCHAR NOT NULL,
    delivery_id VARCHAR NOT NULL,
    received_at TIMESTAMP NOT NULL,
    PRIMARY KEY (receiver, delivery_id)
);
