import Foundation

/// The console's files, read once into memory with their content type and a strong ETag (a hash of the bytes), so
/// a request never touches the disk and a browser revalidates with `If-None-Match` for a 304.
struct ConsoleAssets: Sendable {
    /// One file of the console.
    struct Asset: Sendable {
        let bytes: [UInt8]
        let contentType: String
        /// A quoted strong validator: `"<32 hex digits>"`.
        let etag: String
    }

    /// Files by name relative to the folder (`index.html`, `app.js`, `pages/device.js`).
    let files: [String: Asset]

    /// The folders to look in, in order: the configured one, the SwiftPM resource bundle beside the running executable
    /// (`iot-platform_Console.resources`, where `swift build` puts it and where an install copies it), and the sources
    /// (a development checkout run from its root).
    static func candidateFolders(override: String?) -> [String] {
        var folders: [String] = []
        if let override { folders.append(override) }
        let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath().deletingLastPathComponent()
        if let main = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            folders.append(main.appendingPathComponent("iot-platform_Console.resources/Assets").path)
        }
        folders.append(executable.appendingPathComponent("iot-platform_Console.resources/Assets").path)
        folders.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Assets").path)
        return folders
    }

    /// The first candidate folder holding `index.html`, read whole; nil when none does.
    static func load(from folders: [String]) -> ConsoleAssets? {
        for folder in folders where FileManager.default.fileExists(atPath: folder + "/index.html") {
            if let assets = read(folder: folder) { return assets }
        }
        return nil
    }

    /// Every regular file under `folder` (hidden files skipped).
    static func read(folder: String) -> ConsoleAssets? {
        guard let enumerator = FileManager.default.enumerator(atPath: folder) else { return nil }
        var files: [String: Asset] = [:]
        while let name = enumerator.nextObject() as? String {
            if name.split(separator: "/").contains(where: { $0.hasPrefix(".") }) { continue }
            var isDirectory: ObjCBool = false
            let path = folder + "/" + name
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                  let data = FileManager.default.contents(atPath: path) else { continue }
            let bytes = [UInt8](data)
            files[name] = Asset(bytes: bytes, contentType: contentType(of: name), etag: etag(of: bytes))
        }
        return files["index.html"] == nil ? nil : ConsoleAssets(files: files)
    }

    /// Content types of the kinds of file the console ships; anything else is served as bytes.
    static func contentType(of name: String) -> String {
        switch name.split(separator: ".").last.map({ $0.lowercased() }) ?? "" {
        case "html": "text/html; charset=utf-8"
        case "js", "mjs": "text/javascript; charset=utf-8"
        case "css": "text/css; charset=utf-8"
        case "svg": "image/svg+xml"
        case "json": "application/json"
        case "png": "image/png"
        case "ico": "image/x-icon"
        case "txt": "text/plain; charset=utf-8"
        default: "application/octet-stream"
        }
    }

    /// Two FNV-1a 64-bit hashes with different offsets (not a security hash: a validator only needs to change when the bytes do).
    static func etag(of bytes: [UInt8]) -> String {
        var first: UInt64 = 0xcbf2_9ce4_8422_2325
        var second: UInt64 = 0x6c62_272e_07bb_0142
        for byte in bytes {
            first = (first ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
            second = (second ^ UInt64(byte)) &* 0x0000_0100_0000_01b3
        }
        second ^= UInt64(bytes.count)
        return "\"" + hex(first) + hex(second) + "\""
    }

    private static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
