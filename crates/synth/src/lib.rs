//! flowmeter-synth
