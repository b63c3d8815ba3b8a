// admin-cli: one maintenance command over the composed modules (see `CommandProgram`). `migrate`, `check`
// and `backup` handle the schema themselves; `db copy` opens the two databases it names; every other command runs on an
// up-to-date schema.
import Composition
import Platform

CommandProgram.main("admin-cli", modules: { Composition(context: $0).modules },
                    commands: { $0.maintenanceCommands + $0.commands }, withoutMigration: ["check", "migrate", "backup", "config"],
                    withoutDatabase: ["db"])
