//! flowmeter-pagerduty
