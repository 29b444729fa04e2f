"""`python -m benchmarks [--smoke] [--only NAME ...] [--out FOLDER]`: run the suite, write RESULTS.md."""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from benchmarks import results, suite
from benchmarks.context import BenchContext

app = typer.Typer(add_completion=False)
console = Console()


@app.command()
def main(
    smoke: Annotated[bool, typer.Option(help="Tiny sizes: check the benchmarks work, not how fast.")] = False,
    only: Annotated[list[str] | None, typer.Option(help="Run only these benchmarks (repeatable).")] = None,
    out: Annotated[Path, typer.Option(help="Where RESULTS.md and results.json go.")] = Path("benchmarks"),
) -> None:
    """Run the benchmark suite and write RESULTS.md."""
    names = list(only or suite.BENCHMARKS)
    unknown = [name for name in names if name not in suite.BENCHMARKS]
    if unknown:
        console.print(f"[red]unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(suite.BENCHMARKS)}")
        raise typer.Exit(2)
    started, clock = datetime.now(UTC), time.monotonic()
    figures = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with tempfile.TemporaryDirectory(prefix="dk-bench-") as work, Progress(*columns, console=console) as progress:
        overall = progress.add_task("benchmarks", total=len(names))
        for name in names:
            progress.update(overall, description=f"benchmark {name}")
            ctx = BenchContext(workdir=Path(work) / name, smoke=smoke, progress=progress)
            ctx.workdir.mkdir(parents=True)
            figures += suite.load(name)(ctx)
            progress.advance(overall)
    path = results.write(out, figures, started=started, seconds=time.monotonic() - clock, smoke=smoke)
    console.print(path.read_text(), markup=False)
    console.print(f"written to {path}")


if __name__ == "__main__":
    app()
