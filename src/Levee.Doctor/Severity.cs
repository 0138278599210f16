namespace Levee.Doctor;

/// <summary>How bad a <see cref="Finding"/> is. Errors make <c>levee doctor</c> exit with code 1.</summary>
public enum Severity
{
    /// <summary>Worth knowing; never fails a run.</summary>
    Info = 0,

    /// <summary>Likely to hurt on a bad day; fails a run only with <c>--strict</c>.</summary>
    Warning = 1,

    /// <summary>Turns a node loss into an outage (or stops Redis from starting); fails the run.</summary>
    Error = 2,
}
