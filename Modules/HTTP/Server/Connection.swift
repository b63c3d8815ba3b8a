/// One client connection as its event loop holds it: the socket (behind its `ByteStream`), the protocol state
/// (`ConnectionStateMachine`, a value) and the epoll interest. Owned by the loop thread.
final class Connection {
    let fd: Int32
    /// Tells a reused descriptor's new connection from the old one (completions carry it).
    let id: UInt64
    let remoteAddress: String
    var machine: ConnectionStateMachine
    /// The only way the loop touches the socket. A byte transform (TLS) replaces the plain socket here.
    var stream: any ByteStream
    /// The interest the machine asked for last.
    var wanted = Interest.read
    /// The interest registered with epoll (the machine's, plus write while the stream holds output).
    var registered = Interest.read
    /// The ticket of the request dispatched last (abandoned when its answer is overdue).
    var ticket: RequestTicket?

    init(fd: Int32, id: UInt64, remoteAddress: String, machine: ConnectionStateMachine) {
        self.fd = fd
        self.id = id
        self.remoteAddress = remoteAddress
        self.machine = machine
        self.stream = SocketStream(fd: fd)
    }
}
