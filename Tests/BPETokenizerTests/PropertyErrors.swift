import Testing

/// swift-property-based 2.x runs a property's body under `try?` (its IssueCounting.swift), so an error
/// the body throws would let the property pass: every property body here goes through this, which
/// records a thrown error as an issue.
func recordingErrors(_ body: () throws -> Void) {
    do { try body() } catch { Issue.record(error) }
}

func recordingErrors(_ body: () async throws -> Void) async {
    do { try await body() } catch { Issue.record(error) }
}
