//! flowmeter-store
