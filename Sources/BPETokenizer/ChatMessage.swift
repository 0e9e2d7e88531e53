/// One turn of a conversation: a role ("system", "user", "assistant") and its text.
public struct ChatMessage: Sendable, Codable, Hashable {
    public var role: String
    public var content: String

    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}
