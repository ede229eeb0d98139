mod engine_properties;
