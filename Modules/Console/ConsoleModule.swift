import Core
import Foundation
import Platform

/// The web console (issue 12): static HTML, CSS and JavaScript modules of our own, served by `api-server` at `/`
/// (the page) and `/console/<file>` (its assets). It has no tables and no logic of the platform: the page speaks only
/// the public REST API with the user's token, so the console can never do what the API does not allow.
///
/// ```swift
/// let console = ConsoleModule(context: context)   // serves GET / and GET /console/app.js, …
/// ```
public final class ConsoleModule: PlatformModule {
    public let name = "console"
    let logger: Logger
    let folderOverride: String?

    public init(context: PlatformContext) {
        logger = context.logger
        folderOverride = context.config.optionalString(Self.assetsKey)
    }

    /// Reads the files (when the router is built, so admin-cli and the scheduler never do); nil, with a warning, when
    /// no candidate folder holds them.
    func loadAssets() -> ConsoleAssets? {
        let folders = ConsoleAssets.candidateFolders(override: folderOverride)
        guard let assets = ConsoleAssets.load(from: folders) else {
            logger.warning("console files not found; GET / answers 503", ["looked_in": .string(folders.joined(separator: ", "))])
            return nil
        }
        return assets
    }

    /// `console.assets`: the folder of the console's files (default: the resource bundle beside the executable).
    static let assetsKey = ConfigKey("console.assets", .text, default: "", shown: "resource bundle beside the executable",
                                     "folder of the web console's files (edit them without rebuilding)")

    public var configKeys: [ConfigKey] { [Self.assetsKey] }
}
