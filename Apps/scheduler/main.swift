// scheduler: the modules' background jobs (`run`, `once`, `status`) over the composed modules (see `CommandProgram`).
import Composition
import Platform

CommandProgram.main("scheduler", modules: { Composition(context: $0).modules }, commands: { $0.schedulerCommands })
