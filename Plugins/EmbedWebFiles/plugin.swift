import Foundation
import PackagePlugin

/// Compiles the web UI's files (`Sources/Admin/Web/*`: index.html, app.css, the scripts,
/// the icon) into the Admin module: one build command runs `WebEmbedder` over them and
/// adds the `WebFiles.swift` it writes to the target's sources. The files themselves are
/// excluded from the target in Package.swift (the whole `Web` folder), so they are neither
/// sources nor resources, and the binary stays one file. Every regular file in the folder
/// is handed to the generator (which picks the ones it embeds), so a change to any of them
/// reruns the command.
@main
struct EmbedWebFiles: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let module = target as? SourceModuleTarget else { return [] }
        // The package says tools version 6.0, where a target has no `directoryURL` yet (6.1):
        // the folder is found from the package's (the target keeps the default path).
        let folder = context.package.directoryURL.appending(path: "Sources/\(module.name)/Web")
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path)
            .filter { !$0.hasPrefix(".") }
            .sorted()
            .map { folder.appending(path: $0) }
            .filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
        let output = context.pluginWorkDirectoryURL.appending(path: "WebFiles.swift")
        return [
            .buildCommand(
                displayName: "Embedding the web UI's \(files.count) files",
                executable: try context.tool(named: "WebEmbedder").url,
                arguments: [output.path] + files.map(\.path),
                inputFiles: files,
                outputFiles: [output]
            ),
        ]
    }
}
