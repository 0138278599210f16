namespace Levee.Drill;
