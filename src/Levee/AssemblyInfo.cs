namespace Levee;
