//! flowmeter-opsgenie
