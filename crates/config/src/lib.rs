//! flowmeter-config
