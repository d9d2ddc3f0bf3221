//! flowmeter-connector
