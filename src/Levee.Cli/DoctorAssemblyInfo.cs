using System.Runtime.CompilerServices;

// The doctor tests drive `levee doctor` in-process through DoctorCommand.RunAsync.
[assembly: InternalsVisibleTo("Levee.Doctor.Tests")]
