//! flowmeter-model
